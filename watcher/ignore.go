package watcher

import (
	"bufio"
	"bytes"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// ignoredDirs are directory names that are never watched.
var ignoredDirs = map[string]bool{
	"vendor":       true,
	"node_modules": true,
	"testdata":     true,
	"tmp":          true,
}

// buildDirPrefix starts the names of the server's own build directories.
const buildDirPrefix = "starlight-build"

// ignoredFilePatterns match editor temporaries and swap files.
var ignoredFilePatterns = []string{
	"*~",
	"*.swp",
	"*.swx",
	"*.tmp",
	"#*#",
	"4913",
	"*___jb_*___",
}

// ignoredName reports whether a single path element is always ignored.
// isDir tells whether the element names a directory.
func ignoredName(name string, isDir bool) bool {
	if strings.HasPrefix(name, ".") {
		return true
	}
	if isDir {
		return ignoredDirs[name] ||
			strings.HasPrefix(name, "_") ||
			strings.HasPrefix(name, buildDirPrefix)
	}
	if strings.HasSuffix(name, "_test.go") {
		return true
	}
	for _, p := range ignoredFilePatterns {
		if ok, _ := filepath.Match(p, name); ok {
			return true
		}
	}
	return false
}

// ignored reports whether rel, a slash-separated path relative to a watched
// root, is ignored by the built-in rules or by one of the user patterns.
// Every element is checked, so anything under an ignored directory is
// ignored too. isDir tells whether the last element is a directory.
func ignored(rel string, isDir bool, patterns []string) bool {
	elems := strings.Split(rel, "/")
	for i, name := range elems {
		if ignoredName(name, isDir || i < len(elems)-1) {
			return true
		}
		for _, p := range patterns {
			subject := name
			if strings.Contains(p, "/") {
				subject = strings.Join(elems[:i+1], "/")
			}
			if ok, _ := filepath.Match(p, subject); ok {
				return true
			}
		}
	}
	return false
}

// matchExt reports whether the base name matches one of exts: entries
// starting with "." are extensions, others are exact names.
func matchExt(name string, exts []string) bool {
	for _, e := range exts {
		if strings.HasPrefix(e, ".") {
			if strings.HasSuffix(name, e) {
				return true
			}
		} else if name == e {
			return true
		}
	}
	return false
}

// matchEmbed reports whether file is matched by the //go:embed pattern pat
// written in a Go file in directory dir. Patterns match element by element
// with path.Match semantics; a pattern that matches a directory matches
// everything under it.
func matchEmbed(dir, pat, file string) bool {
	rel, ok := within(dir, file)
	if !ok || rel == "." {
		return false
	}
	pe := strings.Split(pat, "/")
	fe := strings.Split(rel, "/")
	if len(fe) < len(pe) {
		return false
	}
	for i, p := range pe {
		if ok, _ := path.Match(p, fe[i]); !ok {
			return false
		}
	}
	return true
}

// within returns the slash-separated path of p relative to dir, and whether
// p is dir or lies under it. Both must be clean absolute paths.
func within(dir, p string) (string, bool) {
	if p == dir {
		return ".", true
	}
	prefix := dir
	if !strings.HasSuffix(prefix, string(filepath.Separator)) {
		prefix += string(filepath.Separator)
	}
	rest, ok := strings.CutPrefix(p, prefix)
	if !ok {
		return "", false
	}
	return filepath.ToSlash(rest), true
}

// readEmbeds returns the patterns of the //go:embed directives in a Go
// source file, with any "all:" prefix removed.
func readEmbeds(file string) ([]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if !bytes.Contains(data, []byte("//go:embed")) {
		return nil, nil
	}
	var pats []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for sc.Scan() {
		pats = append(pats, parseEmbedLine(sc.Text())...)
	}
	return pats, sc.Err()
}

// parseEmbedLine returns the patterns of a //go:embed line, or nil if the
// line is not one. Patterns are separated by spaces and may be quoted with
// double quotes or back quotes.
func parseEmbedLine(line string) []string {
	args, ok := strings.CutPrefix(strings.TrimSpace(line), "//go:embed")
	if !ok || (args != "" && args[0] != ' ' && args[0] != '\t') {
		return nil
	}
	var pats []string
	for {
		args = strings.TrimLeft(args, " \t")
		if args == "" {
			return pats
		}
		var pat string
		switch args[0] {
		case '"', '`':
			q, err := strconv.QuotedPrefix(args)
			if err != nil {
				return pats
			}
			args = args[len(q):]
			pat, _ = strconv.Unquote(q)
		default:
			end := strings.IndexAny(args, " \t")
			if end < 0 {
				end = len(args)
			}
			pat, args = args[:end], args[end:]
		}
		pat = strings.TrimPrefix(pat, "all:")
		if pat != "" {
			pats = append(pats, path.Clean(pat))
		}
	}
}

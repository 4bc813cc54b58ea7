package httpserver

import (
	"encoding/binary"
	"math/bits"
	"net/http"
	"strconv"

	"github.com/starlight-go/starlight/internal/proto"
)

// Strict HTTP/1.1. net/http parses every request, but it accepts more than
// RFC 9110 and 9112 require of a server, in ways that let a proxy in front
// and the app behind read one byte stream as different requests (request
// smuggling). So a scanner on each connection looks at the request heads
// and the chunked framing as the bytes go to net/http, and refuses, with a
// 4xx and a closed connection, what the RFCs let a server refuse. It never
// copies or holds bytes: it only decides how many of those read may go on
// (see strictconn.go), and it allocates nothing.
//
// The scanner follows the message framing exactly as net/http does for
// what it lets through (Content-Length, or chunked, or no body), so that it
// always knows where the next request starts.

// Limits on the request head, with gunicorn's names and defaults.
const (
	DefaultLimitRequestLine      = proto.DefaultLimitRequestLine      // bytes of the request line, CRLF not counted; over it: 414
	DefaultLimitRequestFields    = proto.DefaultLimitRequestFields    // field lines in the head (and in a trailer section); over it: 431
	DefaultLimitRequestFieldSize = proto.DefaultLimitRequestFieldSize // bytes of one field line, CRLF not counted; over it: 431

	// maxChunkLine bounds a chunk-size line with its extensions, as
	// net/http does.
	maxChunkLine = 4096
)

// limits are the request limits a server runs with; 0 is unlimited (the
// head as a whole is still bounded by MaxHeaderBytes).
type limits struct {
	line, fields, fieldSize int
}

// defaultLimits are gunicorn's.
var defaultLimits = limits{DefaultLimitRequestLine, DefaultLimitRequestFields, DefaultLimitRequestFieldSize}

// rule is why a request is refused.
type rule uint8

const (
	ruleNone rule = iota
	ruleBareLF
	ruleBareCR
	ruleRequestLine
	ruleMethod
	ruleTarget
	ruleAsterisk
	ruleAuthority
	ruleVersion
	ruleVersionUnsupported
	ruleLineTooLong
	ruleTooManyFields
	ruleFieldTooLarge
	ruleObsFold
	ruleSpaceBeforeColon
	ruleFieldName
	ruleNoColon
	ruleFieldValue
	ruleHostMissing
	ruleHostRepeated
	ruleCLInvalid
	ruleCLRepeated
	ruleCLWithTE
	ruleTEInHTTP10
	ruleTEUnknown
	ruleTENotChunked
	ruleChunkSize
	ruleChunkOverflow
	ruleChunkExt
	ruleChunkCRLF
	ruleTrailerForbidden
	numRules
)

// ruleInfo is what a refusal says: the status, the rule in the error log
// (and the response body), and the RFC section that allows or requires it.
type ruleInfo struct {
	status int
	text   string
	rfc    string
}

var rules = [numRules]ruleInfo{
	ruleNone:               {0, "", ""},
	ruleBareLF:             {400, "bare LF where CRLF is required", "RFC 9112 §2.2"},
	ruleBareCR:             {400, "bare CR where CRLF is required", "RFC 9112 §2.2"},
	ruleRequestLine:        {400, "malformed request line", "RFC 9112 §3"},
	ruleMethod:             {400, "method is not a token", "RFC 9112 §3.1"},
	ruleTarget:             {400, "invalid character in the request target", "RFC 9112 §3.2"},
	ruleAsterisk:           {400, "asterisk-form target for a method other than OPTIONS", "RFC 9112 §3.2.4"},
	ruleAuthority:          {400, "authority-form target for a method other than CONNECT", "RFC 9112 §3.2.3"},
	ruleVersion:            {400, "malformed HTTP version", "RFC 9112 §2.3"},
	ruleVersionUnsupported: {505, "HTTP major version other than 1", "RFC 9110 §15.6.6"},
	ruleLineTooLong:        {414, "request line over --limit-request-line", "RFC 9112 §3"},
	ruleTooManyFields:      {431, "more field lines than --limit-request-fields", "RFC 6585 §5"},
	ruleFieldTooLarge:      {431, "field line over --limit-request-field-size", "RFC 6585 §5"},
	ruleObsFold:            {400, "obsolete line folding", "RFC 9112 §5.2"},
	ruleSpaceBeforeColon:   {400, "whitespace between field name and colon", "RFC 9112 §5.1"},
	ruleFieldName:          {400, "field name is not a token", "RFC 9110 §5.1"},
	ruleNoColon:            {400, "field line without a colon", "RFC 9112 §5"},
	ruleFieldValue:         {400, "control character in a field value", "RFC 9110 §5.5"},
	ruleHostMissing:        {400, "HTTP/1.1 request without Host", "RFC 9112 §3.2"},
	ruleHostRepeated:       {400, "more than one Host", "RFC 9112 §3.2"},
	ruleCLInvalid:          {400, "invalid Content-Length", "RFC 9112 §6.3"},
	ruleCLRepeated:         {400, "repeated Content-Length", "RFC 9110 §8.6"},
	ruleCLWithTE:           {400, "Content-Length with Transfer-Encoding", "RFC 9112 §6.1"},
	ruleTEInHTTP10:         {400, "Transfer-Encoding in an HTTP/1.0 request", "RFC 9112 §6.1"},
	ruleTEUnknown:          {501, "transfer coding other than chunked", "RFC 9112 §6.1"},
	ruleTENotChunked:       {400, "Transfer-Encoding without a final chunked", "RFC 9112 §6.3"},
	ruleChunkSize:          {400, "invalid chunk size", "RFC 9112 §7.1"},
	ruleChunkOverflow:      {400, "chunk size overflow", "RFC 9112 §7.1"},
	ruleChunkExt:           {400, "invalid chunk extension", "RFC 9112 §7.1.1"},
	ruleChunkCRLF:          {400, "chunk data not followed by CRLF", "RFC 9112 §7.1"},
	ruleTrailerForbidden:   {400, "field not allowed in a trailer", "RFC 9110 §6.5.1"},
}

func (r rule) String() string { return rules[r].text }

// Scanner states.
const (
	stStart       uint8 = iota // before a request line: empty lines (CRLF) are ignored
	stStartLF                  // after the CR of an empty line before a request
	stMethod                   // in the method
	stTarget                   // in the request target
	stVersion                  // in the HTTP version
	stLineLF                   // after the CR ending the request line
	stFieldStart               // at the start of a field line, or of the empty line ending the section
	stName                     // in a field name
	stValue                    // in a field value
	stValueLF                  // after the CR ending a field line
	stSectionLF                // after the CR of the empty line ending a head or trailer section
	stBody                     // passing Content-Length bytes
	stChunkSize                // in a chunk-size line (size, extensions)
	stChunkLF                  // after the CR ending a chunk-size line
	stChunkData                // passing chunk data
	stChunkDataCR              // expecting the CR after chunk data
	stChunkDataLF              // expecting the LF after chunk data
	stPass                     // no more scanning: the connection was upgraded (or may be)
	stRefused                  // a rule was broken: nothing more goes to net/http
)

// Byte classes.
const (
	cTchar  uint8 = 1 << iota // token character
	cVchar                    // allowed in a field value: VCHAR, SP, HTAB, obs-text
	cTarget                   // allowed in a request target: VCHAR and obs-text
	cHex                      // hex digit
	cDigit                    // decimal digit
	cQdtext                   // allowed in a quoted-string unescaped
)

var class = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		if b > 0x20 && b != 0x7f {
			t[c] |= cVchar | cTarget
		}
		if b == ' ' || b == '\t' {
			t[c] |= cVchar
		}
		if b >= 0x80 {
			t[c] |= cVchar | cTarget
		}
		if ('0' <= b && b <= '9') || ('a' <= b && b <= 'z') || ('A' <= b && b <= 'Z') {
			t[c] |= cTchar
		}
		switch b {
		case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
			t[c] |= cTchar
		}
		if ('0' <= b && b <= '9') || ('a' <= b && b <= 'f') || ('A' <= b && b <= 'F') {
			t[c] |= cHex
		}
		if '0' <= b && b <= '9' {
			t[c] |= cDigit
		}
		if b == '\t' || b == ' ' || b == 0x21 || (0x23 <= b && b <= 0x5b) || (0x5d <= b && b <= 0x7e) || b >= 0x80 {
			t[c] |= cQdtext
		}
	}
	return t
}()

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plainRun returns how many bytes at the start of p are plain
// field-value bytes: none below 0x20 (HTAB included, left to the byte
// loop) and no DEL; bytes from 0x80 (obs-text) pass. It looks at 8 bytes
// at a time: in a word holding one that is not plain, the lowest flagged
// byte is the first such (a borrow only runs upward from it).
func plainRun(p []byte) int {
	n := 0
	for len(p)-n >= 8 {
		w := binary.LittleEndian.Uint64(p[n:])
		d := w ^ (0x7f * ones)
		if m := ((w-0x20*ones)&^w | (d-ones)&^d) & highs; m != 0 {
			return n + bits.TrailingZeros64(m)>>3
		}
		n += 8
	}
	return n
}

func lower(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + ('a' - 'A')
	}
	return b
}

// Field names the scanner looks for, lower case; at most 64 per list.
const (
	fHost = iota
	fContentLength
	fTransferEncoding
	fUpgrade
)

var headNames = []string{"host", "content-length", "transfer-encoding", "upgrade"}

// trailerForbidden are the fields a trailer section must not carry (RFC
// 9110 §6.5.1: framing, routing, request modifiers, authentication,
// controls, content format): net/http's list of bad trailer keys, the
// preconditions, and the other connection-level fields.
var trailerForbidden = []string{
	"authorization", "cache-control", "connection", "content-encoding",
	"content-length", "content-range", "content-type", "cookie", "expect",
	"host", "if-match", "if-modified-since", "if-none-match", "if-range",
	"if-unmodified-since", "keep-alive", "max-forwards", "pragma",
	"proxy-authenticate", "proxy-authorization", "proxy-connection", "range",
	"realm", "set-cookie", "te", "trailer", "transfer-encoding", "upgrade",
	"www-authenticate",
}

// The method as far as the rules care.
const (
	mOther uint8 = iota
	mConnect
	mOptions
)

// Chunk extension states (stChunkSize's sub-state).
const (
	// xSize: in the size digits. RFC 9112 allows BWS before the first
	// ';', but net/http refuses it: so does the scanner, before the app
	// has the request.
	xSize      uint8 = iota
	xNameWS          // after ';', BWS before the name
	xName            // in an extension name
	xNameEnd         // BWS after a name: '=' or ';' may follow
	xValWS           // after '=', BWS before the value
	xToken           // in a token value
	xQuoted          // in a quoted-string value
	xQuotedEsc       // after a backslash in a quoted string
	xValEnd          // after a quoted string
	xValEndWS        // BWS after a value: only ';' may follow
)

// TE list states.
const (
	teStart uint8 = iota // before an element (OWS, commas)
	teElem               // in an element's token
	teAfter              // OWS after an element: only ',' may follow
)

// scanner is the validating state machine of one connection.
type scanner struct {
	lim limits
	st  uint8

	// Position within the current line: bytes so far (CRLF not counted).
	lineLen int
	fields  int  // field lines in this section
	trailer bool // the section is a trailer section

	// The request line.
	method   uint8
	mpos     int // bytes of the method so far
	mcand    uint8
	tlen     int  // bytes of the target so far
	tfirst   byte // the target's first byte
	tslash   bool // it has a '/', '?', '#' or '@' (not authority-form)
	tcolons  int  // colons outside brackets
	tbracket bool // inside [...]
	tdigits  bool // all bytes since the last colon are digits
	vpos     int  // bytes of the version so far
	major    byte
	minor    byte

	// The head.
	hosts   int
	cl      int64 // -1: none
	chunked bool  // a Transfer-Encoding field ended in chunked
	te      bool  // a Transfer-Encoding field was seen
	upgrade bool

	// The field line being read.
	field  int    // index of the matched name, or -1
	cand   uint64 // names still matching
	npos   int    // bytes of the name so far
	vphase uint8  // value sub-state (Content-Length digits, TE list)
	vnum   int64  // Content-Length value so far
	vdig   bool   // a digit was seen
	tepos  int    // bytes of the TE element so far
	teok   bool   // the TE element so far matches "chunked"

	// The body.
	remain int64 // Content-Length or chunk bytes still to pass
	xst    uint8 // chunk extension state
	csize  uint64
	cdig   int

	// Where the current message began in the bytes being scanned (-1:
	// before them), and where its head ended (-1: not in them).
	begun    bool
	msgAt    int
	headAt   int
	headEnd  bool // the head of the current message has ended (a body follows)
	headPrev bool // it ended before the bytes being scanned
	// Where the request line began and where its CR is, in the bytes
	// being scanned (-1: not in them), for the access log of a refusal.
	lineAt int
	lineTo int

	msgs uint64 // messages scanned whole
}

func newScanner(lim limits) scanner {
	return scanner{lim: lim, cl: -1, field: -1, msgAt: -1, headAt: -1, lineAt: -1, lineTo: -1}
}

// verdict is what scan found wrong, and where.
type verdict struct {
	rule rule
	// cut is how many of the scanned bytes may go to net/http: those
	// before the refused message (or, if it began before them, before
	// the end of its head), so that net/http never has a whole head of
	// it.
	cut int
	// body: the refused message's head had gone to net/http before
	// these bytes (the app may be reading its body): the rest of the
	// body fails instead.
	body bool
}

// scan looks at p, the next bytes read from the connection. It returns a
// verdict with rule ruleNone when all of p may go on.
func (s *scanner) scan(p []byte) verdict {
	if s.st == stPass {
		return verdict{}
	}
	if s.st == stRefused {
		return verdict{rule: ruleRequestLine, cut: 0}
	}
	s.msgAt = -1
	s.headAt = -1
	s.lineAt, s.lineTo = -1, -1
	s.headPrev = s.headEnd // the head went to net/http with earlier bytes
	r, at := s.run(p)
	if r == ruleNone {
		return verdict{}
	}
	s.st = stRefused
	v := verdict{rule: r}
	switch {
	case s.headPrev:
		v.body = true
		v.cut = at
	case s.msgAt >= 0:
		v.cut = s.msgAt
	case s.headAt >= 0:
		v.cut = s.headAt // the head's last LF stays back
	default:
		v.cut = at
	}
	return v
}

// run is the state machine. It returns the rule broken and the index of
// the byte that broke it.
func (s *scanner) run(p []byte) (rule, int) {
	for i := 0; i < len(p); i++ {
		b := p[i]
		switch s.st {
		case stStart:
			if !s.begun {
				s.begun = true
				s.msgAt = i
			}
			switch {
			case b == '\r':
				s.st = stStartLF
			case b == '\n':
				return ruleBareLF, i
			case class[b]&cTchar != 0:
				s.st = stMethod
				s.mcand = 3 // CONNECT and OPTIONS still possible
				s.lineLen = 0
				s.lineAt = i
				i--
			default:
				return ruleMethod, i
			}
		case stStartLF:
			if b != '\n' {
				return ruleBareCR, i
			}
			s.st = stStart
		case stMethod:
			if s.mpos == 0 {
				// The fast path: the whole method in these bytes.
				j := i
				for j < len(p) && class[p[j]]&cTchar != 0 {
					j++
				}
				if j > i && j < len(p) && p[j] == ' ' {
					switch string(p[i:j]) {
					case "CONNECT":
						s.method = mConnect
					case "OPTIONS":
						s.method = mOptions
					}
					s.mpos = j - i
					if r := s.lineBytes(j - i + 1); r != ruleNone {
						return r, j
					}
					i = j
					s.st = stTarget
					continue
				}
			}
			if r := s.lineByte(b); r != ruleNone {
				return r, i
			}
			if b == ' ' {
				if s.mpos == 0 {
					return ruleRequestLine, i
				}
				switch {
				case s.mcand&1 != 0 && s.mpos == 7:
					s.method = mConnect
				case s.mcand&2 != 0 && s.mpos == 7:
					s.method = mOptions
				}
				s.st = stTarget
				continue
			}
			if class[b]&cTchar == 0 {
				return s.lineEnd(b, ruleMethod), i
			}
			if s.mpos >= 7 || b != "CONNECT"[s.mpos] {
				s.mcand &^= 1
			}
			if s.mpos >= 7 || b != "OPTIONS"[s.mpos] {
				s.mcand &^= 2
			}
			s.mpos++
		case stTarget:
			// The fast path: the bytes of an origin-form target.
			if s.tlen > 0 && s.tfirst == '/' {
				j := i
				for j < len(p) && class[p[j]]&cTarget != 0 {
					j++
				}
				if n := j - i; n > 0 {
					s.tlen += n
					if r := s.lineBytes(n); r != ruleNone {
						return r, j - 1
					}
					i = j - 1
					continue
				}
			}
			if r := s.lineByte(b); r != ruleNone {
				return r, i
			}
			if b == ' ' {
				if s.tlen == 0 {
					return ruleRequestLine, i
				}
				if r := s.targetForm(); r != ruleNone {
					return r, i
				}
				s.st = stVersion
				continue
			}
			if class[b]&cTarget == 0 {
				return s.lineEnd(b, ruleTarget), i
			}
			if s.tlen == 0 {
				s.tfirst = b
				s.tdigits = true
			}
			s.tlen++
			switch {
			case b == '[':
				s.tbracket = true
			case b == ']':
				s.tbracket = false
			case b == ':' && !s.tbracket:
				s.tcolons++
				s.tdigits = true
				continue
			case b == '/' || b == '?' || b == '#' || b == '@':
				s.tslash = true
			}
			if class[b]&cDigit == 0 {
				s.tdigits = false
			}
		case stVersion:
			if s.vpos == 0 && len(p)-i > 8 && p[i+8] == '\r' {
				// The fast path: HTTP/1.1 or HTTP/1.0, and CR.
				if v := string(p[i : i+8]); v == "HTTP/1.1" || v == "HTTP/1.0" {
					if r := s.lineBytes(8); r != ruleNone {
						return r, i + 8
					}
					s.major, s.minor, s.vpos = '1', p[i+7], 8
					s.lineTo = i + 8
					s.st = stLineLF
					i += 8
					continue
				}
			}
			if b == '\r' {
				if s.vpos != 8 {
					return ruleVersion, i
				}
				if s.major != '1' {
					return ruleVersionUnsupported, i
				}
				s.lineTo = i
				s.st = stLineLF
				continue
			}
			if r := s.lineByte(b); r != ruleNone {
				return r, i
			}
			if b == '\n' {
				return ruleBareLF, i
			}
			switch {
			case s.vpos < 5:
				if b != "HTTP/"[s.vpos] {
					return ruleVersion, i
				}
			case s.vpos == 5 && class[b]&cDigit != 0:
				s.major = b
			case s.vpos == 6 && b == '.':
			case s.vpos == 7 && class[b]&cDigit != 0:
				s.minor = b
			default:
				return ruleVersion, i
			}
			s.vpos++
		case stLineLF:
			if b != '\n' {
				return ruleBareCR, i
			}
			s.st = stFieldStart
		case stFieldStart:
			switch {
			case b == '\r':
				s.st = stSectionLF
			case b == '\n':
				return ruleBareLF, i
			case b == ' ' || b == '\t':
				return ruleObsFold, i
			default:
				s.fields++
				if s.lim.fields > 0 && s.fields > s.lim.fields {
					return ruleTooManyFields, i
				}
				s.lineLen = 0
				s.npos = 0
				s.field = -1
				s.cand = 1<<len(s.names()) - 1
				s.st = stName
				i--
			}
		case stName:
			if s.npos == 0 {
				// The fast path: the whole name and its colon in these
				// bytes.
				j := i
				for j < len(p) && class[p[j]]&cTchar != 0 {
					j++
				}
				if j > i && j < len(p) && p[j] == ':' {
					s.lineLen += j - i + 1
					if s.lim.fieldSize > 0 && s.lineLen > s.lim.fieldSize {
						return ruleFieldTooLarge, j
					}
					s.npos = j - i
					s.field = match(s.names(), p[i:j])
					if r := s.fieldStart(); r != ruleNone {
						return r, j
					}
					i = j
					s.st = stValue
					s.vphase = 0
					continue
				}
			}
			if r := s.fieldByte(); r != ruleNone {
				return r, i
			}
			if b == ':' {
				if s.npos == 0 {
					return ruleFieldName, i
				}
				if r := s.nameEnd(); r != ruleNone {
					return r, i
				}
				s.st = stValue
				s.vphase = 0
				continue
			}
			if class[b]&cTchar == 0 {
				switch b {
				case ' ', '\t':
					return ruleSpaceBeforeColon, i
				case '\r', '\n':
					return ruleNoColon, i
				}
				return ruleFieldName, i
			}
			if s.cand != 0 {
				c := lower(b)
				names := s.names()
				for m := s.cand; m != 0; m &= m - 1 {
					k := bits.TrailingZeros64(m)
					if n := names[k]; s.npos >= len(n) || n[s.npos] != c {
						s.cand &^= 1 << k
					}
				}
			}
			s.npos++
		case stValue:
			if (s.field != fContentLength && s.field != fTransferEncoding) || s.trailer {
				// The fast path: a value the scanner only checks.
				j := i + plainRun(p[i:])
				for j < len(p) && class[p[j]]&cVchar != 0 {
					j++
				}
				if n := j - i; n > 0 {
					s.lineLen += n
					if s.lim.fieldSize > 0 && s.lineLen > s.lim.fieldSize {
						return ruleFieldTooLarge, j - 1
					}
					i = j - 1
					continue
				}
			}
			switch {
			case b == '\r':
				if r := s.valueEnd(); r != ruleNone {
					return r, i
				}
				s.st = stValueLF
				continue
			case b == '\n':
				return ruleBareLF, i
			case class[b]&cVchar == 0:
				return ruleFieldValue, i
			}
			if r := s.fieldByte(); r != ruleNone {
				return r, i
			}
			if r := s.valueByte(b); r != ruleNone {
				return r, i
			}
		case stValueLF:
			if b != '\n' {
				return ruleBareCR, i
			}
			s.st = stFieldStart
		case stSectionLF:
			if b != '\n' {
				return ruleBareCR, i
			}
			if s.trailer {
				s.end()
				continue
			}
			if r := s.headDone(i); r != ruleNone {
				return r, i
			}
		case stBody:
			n := int64(len(p) - i)
			if n >= s.remain {
				i += int(s.remain) - 1
				s.remain = 0
				s.end()
				continue
			}
			s.remain -= n
			i = len(p) - 1
		case stChunkSize:
			if r := s.chunkByte(b); r != ruleNone {
				return r, i
			}
		case stChunkLF:
			if b != '\n' {
				return ruleBareCR, i
			}
			if s.csize == 0 {
				// The last chunk: a trailer section follows.
				s.trailer = true
				s.fields = 0
				s.st = stFieldStart
				continue
			}
			s.remain = int64(s.csize)
			s.st = stChunkData
		case stChunkData:
			n := int64(len(p) - i)
			if n >= s.remain {
				i += int(s.remain) - 1
				s.remain = 0
				s.st = stChunkDataCR
				continue
			}
			s.remain -= n
			i = len(p) - 1
		case stChunkDataCR:
			if b != '\r' {
				if b == '\n' {
					return ruleBareLF, i
				}
				return ruleChunkCRLF, i
			}
			s.st = stChunkDataLF
		case stChunkDataLF:
			if b != '\n' {
				return ruleBareCR, i
			}
			s.startChunk()
		case stPass:
			return ruleNone, 0
		}
	}
	return ruleNone, 0
}

// lineByte counts a byte of the request line against its limit.
func (s *scanner) lineByte(b byte) rule {
	if b == '\r' || b == '\n' {
		return ruleNone
	}
	return s.lineBytes(1)
}

func (s *scanner) lineBytes(n int) rule {
	s.lineLen += n
	if s.lim.line > 0 && s.lineLen > s.lim.line {
		return ruleLineTooLong
	}
	return ruleNone
}

// lineEnd says why a request line ended early: a line ending where a
// space or more of the line was due, or the rule of the byte.
func (s *scanner) lineEnd(b byte, r rule) rule {
	switch b {
	case '\r', '\n':
		return ruleRequestLine
	}
	return r
}

// targetForm checks the form of the target against the method.
func (s *scanner) targetForm() rule {
	switch {
	case s.tfirst == '/':
		return ruleNone
	case s.tlen == 1 && s.tfirst == '*':
		if s.method != mOptions {
			return ruleAsterisk
		}
	case s.method == mConnect:
	case !s.tslash && s.tcolons == 1 && s.tdigits:
		return ruleAuthority // host:port
	}
	return ruleNone
}

// asterisk reports an asterisk-form target (OPTIONS *), which net/http
// answers itself: the app never sees it to take the connection over.
func (s *scanner) asterisk() bool { return s.tlen == 1 && s.tfirst == '*' }

// fieldByte counts a byte of a field line against its limit.
func (s *scanner) fieldByte() rule {
	s.lineLen++
	if s.lim.fieldSize > 0 && s.lineLen > s.lim.fieldSize {
		return ruleFieldTooLarge
	}
	return ruleNone
}

// nameEnd notes which field a name read byte by byte is, at its colon.
func (s *scanner) nameEnd() rule {
	for m := s.cand; m != 0; m &= m - 1 {
		k := bits.TrailingZeros64(m)
		if len(s.names()[k]) == s.npos {
			s.field = k
			break
		}
	}
	return s.fieldStart()
}

// names are the fields the scanner looks for in the section it reads.
func (s *scanner) names() []string {
	if s.trailer {
		return trailerForbidden
	}
	return headNames
}

// match returns the index of name in names (lower case), or -1.
func match(names []string, name []byte) int {
next:
	for k, n := range names {
		if len(n) != len(name) {
			continue
		}
		for i := range len(n) {
			if lower(name[i]) != n[i] {
				continue next
			}
		}
		return k
	}
	return -1
}

// fieldStart notes a field of the head the scanner follows, or refuses a
// trailer that must not be one, at the colon.
func (s *scanner) fieldStart() rule {
	if s.trailer {
		if s.field >= 0 {
			return ruleTrailerForbidden
		}
		return ruleNone
	}
	switch s.field {
	case fHost:
		s.hosts++
		if s.hosts > 1 {
			return ruleHostRepeated
		}
	case fContentLength:
		if s.cl >= 0 {
			return ruleCLRepeated
		}
		s.vnum, s.vdig = 0, false
	case fTransferEncoding:
		if s.te && s.chunked {
			return ruleTENotChunked // chunked was final, and more follows
		}
		s.te = true
		s.tepos, s.teok = 0, true
	case fUpgrade:
		s.upgrade = true
	}
	return ruleNone
}

// valueByte follows the value of a field the scanner reads.
func (s *scanner) valueByte(b byte) rule {
	ows := b == ' ' || b == '\t'
	switch s.field {
	case fContentLength:
		switch s.vphase {
		case 0: // leading OWS
			if ows {
				return ruleNone
			}
			s.vphase = 1
			fallthrough
		case 1: // digits
			if class[b]&cDigit != 0 {
				d := int64(b - '0')
				if s.vnum > (1<<63-1-d)/10 {
					return ruleCLInvalid
				}
				s.vnum = s.vnum*10 + d
				s.vdig = true
				return ruleNone
			}
			if !ows || !s.vdig {
				return ruleCLInvalid
			}
			s.vphase = 2
		case 2: // trailing OWS
			if !ows {
				return ruleCLInvalid
			}
		}
	case fTransferEncoding:
		switch s.vphase {
		case teStart:
			if ows || b == ',' {
				return ruleNone
			}
			s.vphase = teElem
			s.tepos, s.teok = 0, true
			fallthrough
		case teElem:
			switch {
			case class[b]&cTchar != 0:
				if s.tepos >= 7 || lower(b) != "chunked"[s.tepos] {
					s.teok = false
				}
				s.tepos++
			case ows || b == ',':
				if r := s.teElemEnd(); r != ruleNone {
					return r
				}
				s.vphase = teAfter
				if b == ',' {
					s.vphase = teStart
				}
			default:
				// Parameters or junk: not a coding net/http knows.
				if s.chunked {
					return ruleTENotChunked
				}
				return ruleTEUnknown
			}
		case teAfter:
			switch {
			case ows:
			case b == ',':
				s.vphase = teStart
			default:
				if s.chunked {
					return ruleTENotChunked
				}
				return ruleTEUnknown
			}
		}
	}
	return ruleNone
}

// teElemEnd ends an element of the Transfer-Encoding list.
func (s *scanner) teElemEnd() rule {
	if s.chunked {
		return ruleTENotChunked // chunked must be the final coding, once
	}
	if !s.teok || s.tepos != 7 {
		return ruleTEUnknown
	}
	s.chunked = true
	return ruleNone
}

// valueEnd ends a field line's value.
func (s *scanner) valueEnd() rule {
	if s.trailer {
		return ruleNone
	}
	switch s.field {
	case fContentLength:
		if !s.vdig {
			return ruleCLInvalid
		}
		s.cl = s.vnum
	case fTransferEncoding:
		if s.vphase == teElem {
			return s.teElemEnd()
		}
	}
	return ruleNone
}

// headDone checks the head as a whole at its end (the LF at i) and
// starts the body.
func (s *scanner) headDone(i int) rule {
	v11 := s.minor >= '1'
	switch {
	case s.te && s.cl >= 0:
		return ruleCLWithTE
	case s.te && !v11:
		return ruleTEInHTTP10
	case s.te && !s.chunked:
		return ruleTENotChunked
	case v11 && s.hosts == 0:
		return ruleHostMissing
	}
	s.headAt = i
	s.headEnd = true
	if (s.upgrade && !s.asterisk()) || s.method == mConnect {
		// What follows may be another protocol: it is not scanned, and
		// the response closes the connection unless the app took it
		// over (see strictconn.go).
		s.st = stPass
		return ruleNone
	}
	switch {
	case s.chunked:
		s.startChunk()
	case s.cl > 0:
		s.remain = s.cl
		s.st = stBody
	default:
		s.end()
	}
	return ruleNone
}

func (s *scanner) startChunk() {
	s.st = stChunkSize
	s.xst = xSize
	s.csize = 0
	s.cdig = 0
	s.lineLen = 0
}

// end ends a message: what the next one starts from, field by field (the
// request line kept for the log need not be cleared).
func (s *scanner) end() {
	s.msgs++
	s.st = stStart
	s.lineLen, s.fields, s.trailer = 0, 0, false
	s.method, s.mpos, s.mcand = mOther, 0, 0
	s.tlen, s.tfirst, s.tslash, s.tcolons, s.tbracket, s.tdigits = 0, 0, false, 0, false, false
	s.vpos, s.major, s.minor = 0, 0, 0
	s.hosts, s.cl, s.chunked, s.te, s.upgrade = 0, -1, false, false, false
	s.field = -1
	s.remain, s.csize, s.cdig = 0, 0, 0
	s.begun, s.msgAt, s.headAt, s.headEnd, s.headPrev = false, -1, -1, false, false
}

// chunkByte follows a chunk-size line: 1*HEXDIG, then extensions
// ( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ), CRLF.
func (s *scanner) chunkByte(b byte) rule {
	s.lineLen++
	if s.lineLen > maxChunkLine {
		return ruleChunkExt
	}
	if b == '\n' {
		return ruleBareLF
	}
	ows := b == ' ' || b == '\t'
	tchar := class[b]&cTchar != 0
	if b == '\r' {
		switch s.xst {
		case xSize:
			if s.cdig == 0 {
				return ruleChunkSize
			}
		case xName, xToken, xValEnd:
		case xQuoted, xQuotedEsc:
			return ruleChunkExt
		default:
			return ruleChunkExt
		}
		s.st = stChunkLF
		return ruleNone
	}
	switch s.xst {
	case xSize:
		switch {
		case class[b]&cHex != 0:
			if s.cdig == 16 || s.csize > (1<<63-1)>>4 {
				return ruleChunkOverflow
			}
			var d byte
			switch {
			case b <= '9':
				d = b - '0'
			default:
				d = lower(b) - 'a' + 10
			}
			s.csize = s.csize<<4 | uint64(d)
			s.cdig++
		case s.cdig == 0:
			return ruleChunkSize
		case b == ';':
			s.xst = xNameWS
		case ows:
			return ruleChunkExt
		default:
			return ruleChunkSize
		}
	case xNameWS:
		switch {
		case ows:
		case tchar:
			s.xst = xName
		default:
			return ruleChunkExt
		}
	case xName:
		switch {
		case tchar:
		case ows:
			s.xst = xNameEnd
		case b == '=':
			s.xst = xValWS
		case b == ';':
			s.xst = xNameWS
		default:
			return ruleChunkExt
		}
	case xNameEnd:
		switch {
		case ows:
		case b == '=':
			s.xst = xValWS
		case b == ';':
			s.xst = xNameWS
		default:
			return ruleChunkExt
		}
	case xValWS:
		switch {
		case ows:
		case tchar:
			s.xst = xToken
		case b == '"':
			s.xst = xQuoted
		default:
			return ruleChunkExt
		}
	case xToken:
		switch {
		case tchar:
		case ows:
			s.xst = xValEndWS
		case b == ';':
			s.xst = xNameWS
		default:
			return ruleChunkExt
		}
	case xQuoted:
		switch {
		case b == '"':
			s.xst = xValEnd
		case b == '\\':
			s.xst = xQuotedEsc
		case class[b]&cQdtext == 0:
			return ruleChunkExt
		}
	case xQuotedEsc:
		if class[b]&cVchar == 0 {
			return ruleChunkExt
		}
		s.xst = xQuoted
	case xValEnd, xValEndWS:
		switch {
		case ows:
			s.xst = xValEndWS
		case b == ';':
			s.xst = xNameWS
		default:
			return ruleChunkExt
		}
	}
	return ruleNone
}

// requestLine is the refused request's line when p, the bytes scanned
// last, hold it whole; else nil.
func (s *scanner) requestLine(p []byte) []byte {
	if s.lineAt < 0 || s.lineTo < s.lineAt || s.lineTo > len(p) {
		return nil
	}
	return p[s.lineAt:s.lineTo]
}

// refusalResponses are the answers to refusals, one per rule, made once.
var refusalResponses = func() (r [numRules][]byte) {
	for i := rule(1); i < numRules; i++ {
		info := rules[i]
		body := strconv.Itoa(info.status) + " " + http.StatusText(info.status) + ": " + info.text + "\n"
		r[i] = []byte("HTTP/1.1 " + strconv.Itoa(info.status) + " " + http.StatusText(info.status) + "\r\n" +
			"Server: " + serverValue[0] + "\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\n" +
			"Content-Length: " + strconv.Itoa(len(body)) + "\r\n" +
			"Connection: close\r\n\r\n" + body)
	}
	return r
}()

// Package strictcases holds the requests Starlight must refuse and those
// it must serve unchanged, for the scanner's tests and fuzz corpus
// (httpserver) and for the end-to-end tests over real sockets (e2e): one
// table for both.
package strictcases

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Bad is a request Starlight refuses before the app sees it.
type Bad struct {
	Name   string
	Raw    string
	Status int    // the answer
	Rule   string // what the error log says after "request refused: "
}

// Good is one or more requests Starlight serves as net/http reads them.
type Good struct {
	Name string
	Raw  string
	// Status, when not 0, is the one answer, and its body is not
	// compared: net/http answers OPTIONS * itself, and HEAD has no body.
	Status int
}

const (
	h11  = " HTTP/1.1\r\nHost: x\r\n"
	cLTE = "Content-Length with Transfer-Encoding"
)

// chunked is a POST to /echo with a chunked body (the chunks and the end).
func chunked(body string) string {
	return "POST /echo/chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body
}

// field is a GET to /echo carrying the given field lines.
func field(lines string) string {
	return "GET /echo/field HTTP/1.1\r\nHost: x\r\n" + lines + "\r\n"
}

// LongTarget is a request line of n bytes (CRLF not counted).
func LongTarget(n int) string {
	head := "GET /echo/"
	tail := " HTTP/1.1"
	return head + strings.Repeat("a", n-len(head)-len(tail)) + tail + "\r\nHost: x\r\n\r\n"
}

// Fields is a request with n field lines, Host included.
func Fields(n int) string {
	var b strings.Builder
	b.WriteString("GET /echo/fields HTTP/1.1\r\nHost: x\r\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "X-F%d: v\r\n", i)
	}
	b.WriteString("\r\n")
	return b.String()
}

// FieldLine is a request with one field line of n bytes (CRLF not counted).
func FieldLine(name string, n int) string {
	return field(name + ": " + strings.Repeat("c", n-len(name)-2) + "\r\n")
}

var Bads = []Bad{
	// Framing: Content-Length and Transfer-Encoding.
	{"CL then TE", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, cLTE},
	{"TE then CL", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400, cLTE},
	{"CL and TE lower case", "POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n", 400, cLTE},
	{"CL and TE upper case", "POST /echo HTTP/1.1\r\nHOST: x\r\nCONTENT-LENGTH: 5\r\nTRANSFER-ENCODING: CHUNKED\r\n\r\n0\r\n\r\n", 400, cLTE},
	{"HTTP/1.0 TE and CL smuggling", "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 48\r\n\r\n0\r\n\r\nGET /echo/smuggled HTTP/1.1\r\nHost: x\r\n\r\n", 400, cLTE},
	{"TE in HTTP/1.0", "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "Transfer-Encoding in an HTTP/1.0 request"},
	{"TE gzip", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "transfer coding other than chunked"},
	{"TE gzip, chunked", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501, "transfer coding other than chunked"},
	{"TE identity", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n", 501, "transfer coding other than chunked"},
	{"TE xchunked", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n", 501, "transfer coding other than chunked"},
	{"TE chunked with a parameter", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n", 501, "transfer coding other than chunked"},
	{"TE chunked, gzip", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400, "Transfer-Encoding without a final chunked"},
	{"TE chunked, chunked", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400, "Transfer-Encoding without a final chunked"},
	{"TE repeated", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "Transfer-Encoding without a final chunked"},
	{"TE empty", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \r\n\r\n", 400, "Transfer-Encoding without a final chunked"},
	{"CL repeated, same value", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400, "repeated Content-Length"},
	{"CL repeated, different values", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\ncontent-length: 5\r\n\r\nhello", 400, "repeated Content-Length"},
	{"CL list", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello", 400, "invalid Content-Length"},
	{"CL not a number", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400, "invalid Content-Length"},
	{"CL negative", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400, "invalid Content-Length"},
	{"CL plus sign", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello", 400, "invalid Content-Length"},
	{"CL overflow", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", 400, "invalid Content-Length"},
	{"CL empty", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n", 400, "invalid Content-Length"},
	{"CL two numbers", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5 5\r\n\r\nhello", 400, "invalid Content-Length"},
	{"CL hex", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n\r\nhello", 400, "invalid Content-Length"},

	// Chunked framing.
	{"chunk size not hex", chunked("zz\r\nhello\r\n0\r\n\r\n"), 400, "invalid chunk size"},
	{"chunk size 0x", chunked("0x5\r\nhello\r\n0\r\n\r\n"), 400, "invalid chunk size"},
	{"chunk size missing", chunked("\r\nhello\r\n0\r\n\r\n"), 400, "invalid chunk size"},
	{"chunk size leading space", chunked(" 5\r\nhello\r\n0\r\n\r\n"), 400, "invalid chunk size"},
	{"chunk size negative", chunked("-5\r\nhello\r\n0\r\n\r\n"), 400, "invalid chunk size"},
	{"chunk size overflow", chunked("ffffffffffffffffff\r\nhello\r\n0\r\n\r\n"), 400, "chunk size overflow"},
	{"chunk size over int64", chunked("8000000000000000\r\nhello\r\n0\r\n\r\n"), 400, "chunk size overflow"},
	{"chunk size 17 digits", chunked("00000000000000005\r\nhello\r\n0\r\n\r\n"), 400, "chunk size overflow"},
	{"chunk size trailing space", chunked("5 \r\nhello\r\n0\r\n\r\n"), 400, "invalid chunk extension"},
	{"chunk size then BWS", chunked("5 ;a=b\r\nhello\r\n0\r\n\r\n"), 400, "invalid chunk extension"},
	{"chunk size line bare LF", chunked("5\nhello\r\n0\r\n\r\n"), 400, "bare LF where CRLF is required"},
	{"chunk size line bare CR", chunked("5\rhello\r\n0\r\n\r\n"), 400, "bare CR where CRLF is required"},
	{"chunk data too long", chunked("5\r\nhelloX\r\n0\r\n\r\n"), 400, "chunk data not followed by CRLF"},
	{"chunk data then bare LF", chunked("5\r\nhello\n0\r\n\r\n"), 400, "bare LF where CRLF is required"},
	{"chunk data then bare CR", chunked("5\r\nhello\r0\r\n\r\n"), 400, "bare CR where CRLF is required"},
	{"last chunk bare LF", chunked("5\r\nhello\r\n0\n\n"), 400, "bare LF where CRLF is required"},
	{"end of trailers bare LF", chunked("5\r\nhello\r\n0\r\n\n"), 400, "bare LF where CRLF is required"},
	{"chunk extension without name", chunked("5;=x\r\nhello\r\n0\r\n\r\n"), 400, "invalid chunk extension"},
	{"chunk extension control character", chunked("5;a=\"b\x01\"\r\nhello\r\n0\r\n\r\n"), 400, "invalid chunk extension"},
	{"chunk extension unterminated quote", chunked("5;a=\"b\r\nhello\r\n0\r\n\r\n"), 400, "invalid chunk extension"},

	// Field lines.
	{"obs-fold", field("X-A: a\r\n b\r\n"), 400, "obsolete line folding"},
	{"obs-fold with a tab", field("X-A: a\r\n\tb\r\n"), 400, "obsolete line folding"},
	{"whitespace before the first field", "GET /echo HTTP/1.1\r\n Host: x\r\n\r\n", 400, "obsolete line folding"},
	{"space before colon", "GET /echo HTTP/1.1\r\nHost : x\r\n\r\n", 400, "whitespace between field name and colon"},
	{"tab before colon", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length\t: 5\r\n\r\nhello", 400, "whitespace between field name and colon"},
	{"space before colon, lower case", field("transfer-encoding : chunked\r\n"), 400, "whitespace between field name and colon"},
	{"field name with parentheses", field("X(A): b\r\n"), 400, "field name is not a token"},
	{"field name with a slash", field("X/A: b\r\n"), 400, "field name is not a token"},
	{"field name with a non-ASCII byte", field("X-\xe9: b\r\n"), 400, "field name is not a token"},
	{"empty field name", field(": b\r\n"), 400, "field name is not a token"},
	{"field line without a colon", field("NoColon\r\n"), 400, "field line without a colon"},
	{"NUL in a value", field("X-A: a\x00b\r\n"), 400, "control character in a field value"},
	{"CR in a value", field("X-A: a\rb\r\n"), 400, "bare CR where CRLF is required"},
	{"LF in a value", field("X-A: a\nX-B: b\r\n"), 400, "bare LF where CRLF is required"},
	{"0x01 in a value", field("X-A: a\x01b\r\n"), 400, "control character in a field value"},
	{"0x1f in a value", field("X-A: a\x1fb\r\n"), 400, "control character in a field value"},
	{"ESC in a value", field("X-A: \x1b[31mred\r\n"), 400, "control character in a field value"},
	{"DEL in a value", field("X-A: a\x7fb\r\n"), 400, "control character in a field value"},
	{"vertical tab in a Host", "GET /echo HTTP/1.1\r\nHost: x\x0b\r\n\r\n", 400, "control character in a field value"},

	// Line endings.
	{"bare LF everywhere", "GET /echo HTTP/1.1\nHost: x\n\n", 400, "bare LF where CRLF is required"},
	{"bare LF after the request line", "GET /echo HTTP/1.1\nHost: x\r\n\r\n", 400, "bare LF where CRLF is required"},
	{"bare LF ending the head", "GET /echo HTTP/1.1\r\nHost: x\r\n\n", 400, "bare LF where CRLF is required"},
	{"bare CR after the request line", "GET /echo HTTP/1.1\rHost: x\r\n\r\n", 400, "bare CR where CRLF is required"},
	{"bare CR ending the head", "GET /echo HTTP/1.1\r\nHost: x\r\n\rX", 400, "bare CR where CRLF is required"},
	{"bare LF before the request", "\nGET /echo HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bare LF where CRLF is required"},

	// Request line and target.
	{"asterisk-form GET", "GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400, "asterisk-form target for a method other than OPTIONS"},
	{"asterisk-form lower-case options", "options * HTTP/1.1\r\nHost: x\r\n\r\n", 400, "asterisk-form target for a method other than OPTIONS"},
	{"asterisk-form POST", "POST * HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 400, "asterisk-form target for a method other than OPTIONS"},
	{"authority-form GET", "GET example.com:80 HTTP/1.1\r\nHost: example.com\r\n\r\n", 400, "authority-form target for a method other than CONNECT"},
	{"authority-form POST, IPv6", "POST [::1]:8080 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 400, "authority-form target for a method other than CONNECT"},
	{"authority-form lower-case connect", "connect example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 400, "authority-form target for a method other than CONNECT"},
	{"method not a token", "G(T /echo HTTP/1.1\r\nHost: x\r\n\r\n", 400, "method is not a token"},
	{"two spaces", "GET  /echo HTTP/1.1\r\nHost: x\r\n\r\n", 400, "malformed request line"},
	{"tab as separator", "GET\t/echo HTTP/1.1\r\nHost: x\r\n\r\n", 400, "method is not a token"},
	{"trailing space", "GET /echo HTTP/1.1 \r\nHost: x\r\n\r\n", 400, "malformed HTTP version"},
	{"no version", "GET /echo\r\nHost: x\r\n\r\n", 400, "malformed request line"},
	{"lower-case version", "GET /echo http/1.1\r\nHost: x\r\n\r\n", 400, "malformed HTTP version"},
	{"version 1.10", "GET /echo HTTP/1.10\r\nHost: x\r\n\r\n", 400, "malformed HTTP version"},
	{"version 2.0", "GET /echo HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HTTP major version other than 1"},
	{"control character in the target", "GET /echo/a\x01b HTTP/1.1\r\nHost: x\r\n\r\n", 400, "invalid character in the request target"},
	{"DEL in the target", "GET /echo/a\x7fb HTTP/1.1\r\nHost: x\r\n\r\n", 400, "invalid character in the request target"},
	{"no Host", "GET /echo HTTP/1.1\r\nAccept: */*\r\n\r\n", 400, "HTTP/1.1 request without Host"},
	{"no Host, absolute-form", "GET http://example.com/echo HTTP/1.1\r\n\r\n", 400, "HTTP/1.1 request without Host"},
	{"two Hosts", "GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "more than one Host"},
	{"two Hosts, other case", "GET /echo HTTP/1.1\r\nhost: a\r\nHOST: a\r\n\r\n", 400, "more than one Host"},
	{"two Hosts in HTTP/1.0", "GET /echo HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400, "more than one Host"},

	// Limits (the defaults).
	{"request line of 4095 bytes", LongTarget(4095), 414, "request line over --limit-request-line"},
	{"101 field lines", Fields(101), 431, "more field lines than --limit-request-fields"},
	{"field line of 8191 bytes", FieldLine("Cookie", 8191), 431, "field line over --limit-request-field-size"},

	// Trailers.
	{"Content-Length trailer", chunked("5\r\nhello\r\n0\r\nContent-Length: 100\r\n\r\n"), 400, "field not allowed in a trailer"},
	{"Transfer-Encoding trailer", chunked("5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400, "field not allowed in a trailer"},
	{"Host trailer", chunked("5\r\nhello\r\n0\r\nHost: evil\r\n\r\n"), 400, "field not allowed in a trailer"},
	{"Authorization trailer, lower case", chunked("5\r\nhello\r\n0\r\nauthorization: Basic eDp5\r\n\r\n"), 400, "field not allowed in a trailer"},
	{"declared Content-Type trailer", "POST /echo HTTP/1.1\r\nHost: x\r\nTrailer: Content-Type\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Type: text/evil\r\n\r\n", 400, "field not allowed in a trailer"},
	{"trailer obs-fold", chunked("0\r\nX-Sum: a\r\n b\r\n\r\n"), 400, "obsolete line folding"},
	{"trailer bare LF", chunked("0\r\nX-Sum: a\n\r\n"), 400, "bare LF where CRLF is required"},
	{"trailer NUL", chunked("0\r\nX-Sum: a\x00\r\n\r\n"), 400, "control character in a field value"},
	{"trailer space before colon", chunked("0\r\nX-Sum : a\r\n\r\n"), 400, "whitespace between field name and colon"},
}

// Cookie8K is two Cookie field lines of 8190 bytes each, the most
// --limit-request-field-size lets through.
var cookie8K = "Cookie: a=" + strings.Repeat("b", 8190-len("Cookie: a=")) + "\r\n" +
	"Cookie: c=" + strings.Repeat("d", 8190-len("Cookie: c=")) + "\r\n"

// bigChunks is a chunked body of 100 KiB in chunks of 7 KiB and the rest.
func bigChunks() string {
	var b strings.Builder
	left := 100 << 10
	for i := 0; left > 0; i++ {
		n := min(left, 7<<10)
		fmt.Fprintf(&b, "%x;n=%d\r\n%s\r\n", n, i, strings.Repeat(string(rune('a'+i%26)), n))
		left -= n
	}
	b.WriteString("0\r\n\r\n")
	return b.String()
}

var Goods = []Good{
	{"GET", "GET /echo" + h11 + "\r\n", 0},
	{"HEAD", "HEAD /echo" + h11 + "\r\n", 200},
	{"absolute-form", "GET http://example.com/echo/abs?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n", 0},
	{"absolute-form with a port", "GET https://example.com:8443/echo/abs HTTP/1.1\r\nHost: example.com:8443\r\n\r\n", 0},
	{"OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 200},
	{"OPTIONS origin-form", "OPTIONS /echo" + h11 + "\r\n", 0},
	{"custom method", "PURGE /echo" + h11 + "\r\n", 0},
	{"percent-encoded query", "GET /echo/a%20b?x=1&y=%2F&z" + h11 + "\r\n", 0},
	{"HTTP/1.0 without Host", "GET /echo HTTP/1.0\r\n\r\n", 0},
	{"HTTP/1.0 keep-alive", "GET /echo HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n", 0},
	{"HTTP/1.0 POST", "POST /echo HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello", 0},
	{"Connection: close", "GET /echo" + h11 + "Connection: close\r\n\r\n", 0},
	{"POST Content-Length", "POST /echo" + h11 + "Content-Length: 11\r\n\r\nhello world", 0},
	{"Content-Length 0", "POST /echo" + h11 + "Content-Length: 0\r\n\r\n", 0},
	{"Content-Length with leading zeros and OWS", "POST /echo" + h11 + "Content-Length:  005 \r\n\r\nhello", 0},
	{"DELETE with a body", "DELETE /echo" + h11 + "Content-Length: 3\r\n\r\nabc", 0},
	{"chunked", chunked("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), 0},
	{"chunked, upper-case hex and leading zeros", chunked("00A\r\n0123456789\r\n0000\r\n\r\n"), 0},
	{"chunked with extensions", chunked("5;foo=bar\r\nhello\r\n6;a;b=c\r\n world\r\n0;last\r\n\r\n"), 0},
	{"chunked with quoted extensions and BWS", chunked("5;q = \"va;l\\\"ue\"; r=\"\"\r\nhello\r\n0\r\n\r\n"), 0},
	{"Transfer-Encoding Chunked, OWS", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:  Chunked \r\n\r\n3\r\nabc\r\n0\r\n\r\n", 0},
	{"declared trailers", "POST /echo HTTP/1.1\r\nHost: x\r\nTrailer: X-Checksum, X-Count\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Count: 5\r\n\r\n", 0},
	{"undeclared trailer", chunked("5\r\nhello\r\n0\r\nX-Sum: 42\r\n\r\n"), 0},
	{"chunked body that looks like a request", chunked("1a\r\nGET /smuggled HTTP/1.1\r\n\r\n\r\n0\r\n\r\n"), 0},
	{"100 KiB chunked", chunked(bigChunks()), 0},
	{"200 KiB Content-Length", "PUT /echo" + h11 + "Content-Length: 204800\r\n\r\n" + strings.Repeat("0123456789abcdef", 12800), 0},
	{"Expect: 100-continue", "POST /echo" + h11 + "Expect: 100-continue\r\nContent-Length: 4\r\n\r\nbody", 0},
	{"empty field values", "GET /echo" + h11 + "X-Empty:\r\nX-Empty-Space: \r\nX-Tab:\t\r\n\r\n", 0},
	{"8 KiB cookies", "GET /echo" + h11 + cookie8K + "\r\n", 0},
	{"obs-text and tabs in a value", "GET /echo" + h11 + "X-Latin: caf\xe9\tau\xa0lait \r\n\r\n", 0},
	{"every token character in a name", "GET /echo" + h11 + "X!#$%&'*+-.^_`|~09az: v\r\n\r\n", 0},
	{"request line of 4094 bytes", LongTarget(4094), 0},
	{"100 field lines", Fields(100), 0},
	{"Host with a port", "GET /echo HTTP/1.1\r\nHost: example.com:8080\r\n\r\n", 0},
	{"pipelined", "GET /echo/1" + h11 + "\r\n" + chunked("3\r\nabc\r\n0\r\n\r\n") + "POST /echo/3" + h11 + "Content-Length: 2\r\n\r\nhi", 0},
	{"Upgrade not taken", "GET /echo/upgrade" + h11 + "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 0},
	{"CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 0},
}

// Dump is what the app's /echo answers, and what a test expects from
// net/http's own reading of the request: everything a handler sees.
func Dump(r *http.Request, body []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s\nhost %q length %d coding %q\n", r.Method, r.RequestURI, r.Proto, r.Host, r.ContentLength, r.TransferEncoding)
	dumpHeader(&b, "header", r.Header)
	if len(body) > 256 {
		fmt.Fprintf(&b, "body %d bytes, sha256 %x\n", len(body), sha256.Sum256(body))
	} else {
		fmt.Fprintf(&b, "body %q\n", body)
	}
	dumpHeader(&b, "trailer", r.Trailer)
	return b.String()
}

func dumpHeader(b *strings.Builder, what string, h http.Header) {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			if len(v) > 256 {
				fmt.Fprintf(b, "%s %s: %d bytes, sha256 %x\n", what, k, len(v), sha256.Sum256([]byte(v)))
				continue
			}
			fmt.Fprintf(b, "%s %s: %q\n", what, k, v)
		}
	}
}

package httpserver

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Behind a proxy. The peer of a connection is the proxy, not the client:
// from the peers --forwarded-allow-ips names (127.0.0.1 and ::1 by
// default, * for any, "unix" for unix-socket clients), X-Forwarded-For
// or Forwarded says who the client is, and X-Forwarded-Proto (or
// Forwarded's proto) whether it came over HTTPS. From anyone else these
// headers are ignored: a client could write any address in them.

// trust is the set of peers whose forwarding headers are believed.
type trust struct {
	any    bool
	unix   bool
	prefix []netip.Prefix
	// setRemoteAddr: the client's address replaces r.RemoteAddr before
	// the app sees the request (--forwarded-set-remote-addr).
	setRemoteAddr bool
}

// newTrust parses --forwarded-allow-ips: addresses, networks (CIDR), *
// and unix. Values that are none of these are ignored (the master
// checked them).
func newTrust(allow []string, setRemoteAddr bool) *trust {
	t := &trust{setRemoteAddr: setRemoteAddr}
	for _, a := range allow {
		a = strings.TrimSpace(a)
		switch {
		case a == "*":
			t.any = true
		case a == "unix":
			t.unix = true
		case strings.Contains(a, "/"):
			if p, err := netip.ParsePrefix(a); err == nil {
				t.prefix = append(t.prefix, p.Masked())
			}
		default:
			if ip, err := netip.ParseAddr(a); err == nil {
				t.prefix = append(t.prefix, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
			}
		}
	}
	return t
}

// trusts reports whether a peer (an IP address, or "" for a unix-socket
// client) is trusted.
func (t *trust) trusts(peer string) bool {
	if t == nil {
		return false
	}
	if t.any {
		return true
	}
	if peer == "" {
		return t.unix
	}
	ip, err := netip.ParseAddr(peer)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range t.prefix {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// peerHost is the host part of a RemoteAddr, "" for a unix-socket client.
func peerHost(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		remote = h
	}
	if remote == "@" {
		return ""
	}
	return remote
}

// client returns the client's address for r, from its forwarding headers
// when its peer is trusted, and whether it came from them. Of the
// addresses X-Forwarded-For (or Forwarded) lists, the client is the last
// one that is not itself a trusted proxy: those before it could be
// written by the client.
func (t *trust) client(r *http.Request) (string, bool) {
	peer := peerHost(r.RemoteAddr)
	if !t.trusts(peer) {
		return peer, false
	}
	var hops []string
	if v := r.Header["X-Forwarded-For"]; len(v) > 0 {
		for _, line := range v {
			for _, h := range strings.Split(line, ",") {
				hops = append(hops, strings.TrimSpace(h))
			}
		}
	} else if v := r.Header["Forwarded"]; len(v) > 0 {
		hops = forwardedParam(v, "for")
	}
	for i := len(hops) - 1; i >= 0; i-- {
		h := cleanHop(hops[i])
		if h == "" {
			break
		}
		if i == 0 || !t.trusts(h) {
			return h, true
		}
	}
	return peer, false
}

// cleanHop makes an address of a forwarding header plain: no port, no
// brackets or quotes; "" when it is no IP address (unknown, _hidden).
func cleanHop(h string) string {
	h = strings.Trim(h, `"`)
	if ap, err := netip.ParseAddrPort(h); err == nil {
		return ap.Addr().Unmap().String()
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.Unmap().String()
	}
	return ""
}

// forwardedParam returns the values of one parameter (for, proto) in
// Forwarded header lines, in order (RFC 7239).
func forwardedParam(lines []string, name string) []string {
	var out []string
	for _, line := range lines {
		for _, elem := range strings.Split(line, ",") {
			for _, pair := range strings.Split(elem, ";") {
				k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(k, name) {
					out = append(out, strings.Trim(v, `"`))
				}
			}
		}
	}
	return out
}

// ClientIP returns the address of the client that sent r: from
// X-Forwarded-For or Forwarded when the connection's peer is a trusted
// proxy (--forwarded-allow-ips), else the peer's address; "unix" for a
// client on a unix socket when nothing better is known. It is what the
// access log shows.
func ClientIP(r *http.Request) string {
	var t *trust
	if s := current.Load(); s != nil {
		t = s.trust
	}
	ip, _ := t.client(r)
	if ip == "" {
		return "unix"
	}
	return ip
}

// Scheme returns "https" when r came over TLS, or its peer is a trusted
// proxy that says so (X-Forwarded-Proto: https, or Forwarded's
// proto=https); else "http".
func Scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	var t *trust
	if s := current.Load(); s != nil {
		t = s.trust
	}
	if !t.trusts(peerHost(r.RemoteAddr)) && !fromProxy(r) {
		return "http"
	}
	if v := r.Header.Get("X-Forwarded-Proto"); v != "" {
		if strings.EqualFold(strings.TrimSpace(strings.Split(v, ",")[0]), "https") {
			return "https"
		}
		return "http"
	}
	if p := forwardedParam(r.Header["Forwarded"], "proto"); len(p) > 0 && strings.EqualFold(p[0], "https") {
		return "https"
	}
	return "http"
}

// forwardedRemoteAddr returns r with the forwarded client's address as
// its RemoteAddr, when its peer is trusted and names one.
func (s *server) forwardedRemoteAddr(r *http.Request) *http.Request {
	ip, ok := s.trust.client(r)
	if !ok {
		return r
	}
	r = r.WithContext(context.WithValue(r.Context(), forwardedKey{}, true))
	r.RemoteAddr = net.JoinHostPort(ip, "0")
	return r
}

// forwardedKey marks a request whose RemoteAddr was set from its
// forwarding headers (--forwarded-set-remote-addr): its peer was trusted.
type forwardedKey struct{}

func fromProxy(r *http.Request) bool {
	v, _ := r.Context().Value(forwardedKey{}).(bool)
	return v
}

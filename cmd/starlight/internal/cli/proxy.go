package cli

import (
	"fmt"
	"strings"

	"github.com/starlight-go/starlight/internal/proto"
)

// allowIPsValue is --forwarded-allow-ips: a comma-separated list of IP
// addresses, CIDR networks, * and unix; given again, it replaces the
// list (the default first).
type allowIPsValue struct{ p *[]string }

func (v *allowIPsValue) String() string {
	if v.p == nil {
		return ""
	}
	return strings.Join(*v.p, ",")
}

func (v *allowIPsValue) Set(s string) error {
	var list []string
	for _, a := range strings.Split(s, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if err := proto.CheckForwardedAllowIP(a); err != nil {
			return err
		}
		list = append(list, a)
	}
	if len(list) == 0 {
		return fmt.Errorf("empty list (addresses, networks, * or unix)")
	}
	*v.p = list
	return nil
}

func (v *allowIPsValue) Type() string { return "list" }

package idp_test

import (
	"strings"
	"testing"

	"github.com/scimgate/scimgate/pkg/idp"
)

func TestLinkValidate(t *testing.T) {
	okta := func(f func(*idp.OktaLink)) idp.Link {
		l := idp.Link{Kind: idp.Okta, Okta: &idp.OktaLink{OrgURL: "https://acme.okta.com/", AppID: "0oa1", APITokenRef: "/etc/okta-token"}}
		if f != nil {
			f(l.Okta)
		}
		l.Normalize()
		return l
	}
	entra := idp.Link{Kind: idp.Entra, Entra: &idp.EntraLink{TenantID: "t", ServicePrincipalID: "sp", ClientID: "c",
		ClientSecretRef: "arn:aws-us-gov:secretsmanager:us-gov-west-1:1:secret:x"}}
	entra.Normalize()
	for _, tc := range []struct {
		name string
		link idp.Link
		want string // "" valid
	}{
		{"okta with a token file", okta(nil), ""},
		{"okta service app by ARN", okta(func(o *idp.OktaLink) {
			o.APITokenRef, o.ClientID, o.PrivateKeyRef = "", "0oa2", "arn:aws:secretsmanager:eu-west-1:1:secret:k"
		}), ""},
		{"okta on a loopback double", okta(func(o *idp.OktaLink) { o.OrgURL = "http://127.0.0.1:8099" }), ""},
		{"entra with defaults", entra, ""},
		{"a pasted token", okta(func(o *idp.OktaLink) { o.APITokenRef = "00abcDEFsecret" }), "never the secret itself"},
		{"both auths", okta(func(o *idp.OktaLink) { o.ClientID, o.PrivateKeyRef = "c", "/k" }), "not both"},
		{"no auth", okta(func(o *idp.OktaLink) { o.APITokenRef = "" }), "auth is required"},
		{"client id without key", okta(func(o *idp.OktaLink) { o.APITokenRef, o.ClientID = "", "c" }), "needs both"},
		{"no app", okta(func(o *idp.OktaLink) { o.AppID = "" }), "app id"},
		{"bad org URL", okta(func(o *idp.OktaLink) { o.OrgURL = "acme.okta.com" }), "org URL"},
		{"bad policy", func() idp.Link { l := okta(nil); l.Policy = "heal"; return l }(), "policy"},
		{"bad kind", idp.Link{Kind: "onelogin", Policy: idp.PolicyReport}, "kind"},
	} {
		err := tc.link.Validate()
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: Validate() = %v, want %q", tc.name, err, tc.want)
		}
	}
	if l := okta(nil); l.Policy != idp.PolicyReport || l.Okta.OrgURL != "https://acme.okta.com" {
		t.Errorf("Normalize: %+v", l)
	}
	if entra.Entra.GraphURL != idp.DefaultGraphURL || entra.Entra.UserJoinAttribute != "mailNickname" || entra.Entra.GroupJoinAttribute != "objectId" {
		t.Errorf("entra defaults: %+v", entra.Entra)
	}
}

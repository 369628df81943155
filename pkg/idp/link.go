package idp

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Policy is what a scheduled reconcile run does with the drift it finds.
type Policy string

const (
	// PolicyReport only reports (the default): a new link must first prove
	// it reads the right app before it may change anything.
	PolicyReport Policy = "report"
	// PolicyRepair also applies the revoking repairs.
	PolicyRepair Policy = "repair"
)

// Public-cloud defaults for Entra; sovereign clouds have their own hosts
// (https://learn.microsoft.com/graph/deployments).
const (
	DefaultGraphURL = "https://graph.microsoft.com"
	DefaultLoginURL = "https://login.microsoftonline.com"
	// DefaultEntraUserJoin is the Entra attribute the default user mapping
	// sends as externalId; DefaultEntraGroupJoin the group's.
	DefaultEntraUserJoin  = "mailNickname"
	DefaultEntraGroupJoin = "objectId"
)

// Link is how one connection reaches its IdP's management API. It holds
// references to secrets (a file path locally, a Secrets Manager ARN on AWS),
// never a secret: it is stored in the table and shown by the CLI and admin API.
type Link struct {
	Kind    Kind       `json:"kind"`
	Policy  Policy     `json:"policy"`
	Okta    *OktaLink  `json:"okta,omitempty"`
	Entra   *EntraLink `json:"entra,omitempty"`
	Updated time.Time  `json:"updated"`
}

// OktaLink names an Okta org and the app scimgate is the SCIM server of.
// Auth is either an API token (SSWS) or an OAuth 2.0 service app
// (client id plus private key, private_key_jwt).
type OktaLink struct {
	OrgURL        string `json:"org_url"`
	AppID         string `json:"app_id"`
	APITokenRef   string `json:"api_token_ref,omitempty"`
	ClientID      string `json:"client_id,omitempty"`
	PrivateKeyRef string `json:"private_key_ref,omitempty"`
}

// EntraLink names an Entra tenant and the enterprise app's service principal.
type EntraLink struct {
	TenantID           string `json:"tenant_id"`
	ServicePrincipalID string `json:"service_principal_id"`
	ClientID           string `json:"client_id"`
	ClientSecretRef    string `json:"client_secret_ref"`
	GraphURL           string `json:"graph_url"`
	LoginURL           string `json:"login_url"`
	// UserJoinAttribute is the Entra user attribute the app's mapping sends
	// as externalId; GroupJoinAttribute the group's. Admins change the
	// mapping, so the join must follow it.
	UserJoinAttribute  string `json:"user_join_attribute"`
	GroupJoinAttribute string `json:"group_join_attribute"`
}

// Normalize fills the defaults: policy report, Entra's public cloud and
// default join attributes.
func (l *Link) Normalize() {
	if l.Policy == "" {
		l.Policy = PolicyReport
	}
	if l.Okta != nil {
		l.Okta.OrgURL = strings.TrimRight(l.Okta.OrgURL, "/")
	}
	if e := l.Entra; e != nil {
		if e.GraphURL == "" {
			e.GraphURL = DefaultGraphURL
		}
		if e.LoginURL == "" {
			e.LoginURL = DefaultLoginURL
		}
		e.GraphURL = strings.TrimRight(e.GraphURL, "/")
		e.LoginURL = strings.TrimRight(e.LoginURL, "/")
		if e.UserJoinAttribute == "" {
			e.UserJoinAttribute = DefaultEntraUserJoin
		}
		if e.GroupJoinAttribute == "" {
			e.GroupJoinAttribute = DefaultEntraGroupJoin
		}
	}
}

// Validate says in words an operator can act on what is missing or wrong.
func (l *Link) Validate() error {
	switch l.Policy {
	case PolicyReport, PolicyRepair:
	default:
		return fmt.Errorf("policy %q is invalid: use report or repair", l.Policy)
	}
	switch l.Kind {
	case Okta:
		o := l.Okta
		if o == nil || l.Entra != nil {
			return fmt.Errorf("an okta link needs the okta settings and no entra settings")
		}
		for _, ref := range []struct{ name, v string }{{"okta API token", o.APITokenRef}, {"okta private key", o.PrivateKeyRef}} {
			if err := CheckSecretRef(ref.name, ref.v); err != nil {
				return err
			}
		}
		if err := checkBaseURL("okta org URL", o.OrgURL); err != nil {
			return err
		}
		if o.AppID == "" {
			return fmt.Errorf("okta app id is required")
		}
		token, key := o.APITokenRef != "", o.ClientID != "" || o.PrivateKeyRef != ""
		switch {
		case token && key:
			return fmt.Errorf("give either an okta API token or a client id and private key, not both")
		case !token && !key:
			return fmt.Errorf("okta auth is required: an API token, or a client id and private key")
		case key && (o.ClientID == "" || o.PrivateKeyRef == ""):
			return fmt.Errorf("okta private_key_jwt auth needs both the client id and the private key")
		}
	case Entra:
		e := l.Entra
		if e == nil || l.Okta != nil {
			return fmt.Errorf("an entra link needs the entra settings and no okta settings")
		}
		for _, f := range []struct{ name, v string }{
			{"entra tenant id", e.TenantID}, {"entra service principal id", e.ServicePrincipalID},
			{"entra client id", e.ClientID}, {"entra client secret", e.ClientSecretRef},
		} {
			if f.v == "" {
				return fmt.Errorf("%s is required", f.name)
			}
		}
		if err := CheckSecretRef("entra client secret", e.ClientSecretRef); err != nil {
			return err
		}
		if err := checkBaseURL("entra graph URL", e.GraphURL); err != nil {
			return err
		}
		if err := checkBaseURL("entra login URL", e.LoginURL); err != nil {
			return err
		}
	default:
		return fmt.Errorf("kind %q is invalid: use okta or entra", l.Kind)
	}
	return nil
}

// checkBaseURL accepts an absolute http(s) URL without query or fragment.
// Plain http is allowed (a local double on 127.0.0.1); the operator chose it.
func checkBaseURL(what, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%s %q is invalid: use an absolute https URL such as https://example.okta.com", what, raw)
	}
	return nil
}

// CheckSecretRef accepts "" or a reference: an absolute file path or a
// Secrets Manager ARN (any partition). Anything else may be the secret
// itself pasted by mistake, and a link must never store one.
func CheckSecretRef(what, ref string) error {
	switch {
	case ref == "", strings.HasPrefix(ref, "/"), IsSecretARN(ref):
		return nil
	}
	return fmt.Errorf("%s must be a reference, an absolute file path or a Secrets Manager ARN, never the secret itself", what)
}

// IsSecretARN reports whether ref is a Secrets Manager ARN (aws, aws-cn, aws-us-gov).
func IsSecretARN(ref string) bool {
	part, rest, ok := strings.Cut(strings.TrimPrefix(ref, "arn:"), ":")
	return strings.HasPrefix(ref, "arn:") && ok && strings.HasPrefix(part, "aws") && strings.HasPrefix(rest, "secretsmanager:")
}

// SecretRefs lists the link's secret references.
func (l *Link) SecretRefs() []string {
	var out []string
	if o := l.Okta; o != nil {
		out = append(out, o.APITokenRef, o.PrivateKeyRef)
	}
	if e := l.Entra; e != nil {
		out = append(out, e.ClientSecretRef)
	}
	return slicesDeleteEmpty(out)
}

func slicesDeleteEmpty(s []string) []string {
	out := s[:0]
	for _, v := range s {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

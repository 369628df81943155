package entra

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/scimgate/scimgate/pkg/idp"
)

// tokenSkew is how long before expiry a cached token is replaced, so that a
// token never expires between being read from the cache and reaching Graph.
const tokenSkew = 5 * time.Minute

// token returns a Graph access token from the OAuth 2.0 client credentials
// grant (Microsoft identity platform v2.0 endpoint), cached until shortly
// before expires_in runs out.
func (rn *run) token(ctx context.Context) (string, error) {
	r := rn.r
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now()
	if r.token != "" && now.Before(r.tokenExpiry.Add(-tokenSkew)) {
		return r.token, nil
	}
	endpoint := r.cfg.LoginURL + "/" + url.PathEscape(r.cfg.TenantID) + "/oauth2/v2.0/token"
	form := url.Values{
		"grant_type": {"client_credentials"},
		"client_id":  {r.cfg.ClientID},
		// {graph}/.default: the application permissions granted to the app
		// registration, for the cloud the Graph URL names.
		"scope": {r.cfg.GraphURL + "/.default"},
	}
	if c := r.cfg.Certificate; c != nil {
		assertion, err := clientAssertion(c, r.cfg.ClientID, endpoint, now)
		if err != nil {
			return "", rn.fail(opToken, 0, "the link's certificate cannot sign: check its private key", err)
		}
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", assertion)
	} else {
		form.Set("client_secret", string(r.cfg.ClientSecret))
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
		if err != nil {
			return "", rn.fail(opToken, 0, "check the login base URL", err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		rn.requests++
		resp, err := r.cfg.HTTPClient.Do(req)
		if err != nil {
			return "", rn.fail(opToken, 0, "the Microsoft login endpoint could not be reached; check the login base URL and the network", redactURL(err))
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return "", rn.fail(opToken, resp.StatusCode, "reading the token answer failed; retry", err)
		}
		if resp.StatusCode == http.StatusTooManyRequests && attempt < r.cfg.MaxRetries {
			wait, ok := idp.RetryAfter(resp.Header, now)
			if !ok {
				wait = time.Duration(1<<attempt) * time.Second
			}
			if err := r.cfg.Sleep(ctx, wait); err != nil {
				return "", rn.fail(opToken, 0, "the run was cancelled while the login endpoint throttled it", err)
			}
			now = r.cfg.Now()
			continue
		}
		var tok struct {
			AccessToken string `json:"access_token"`
			ExpiresIn   int64  `json:"expires_in"`
			Error       string `json:"error"`
			ErrorCodes  []int  `json:"error_codes"`
		}
		_ = json.Unmarshal(data, &tok)
		if resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
			// The error and AADSTS codes name the cause (7000215 a wrong
			// secret, 7000222 an expired one, 700016 an unknown client id,
			// 90002 an unknown tenant) and echo nothing secret.
			cause := fmt.Errorf("token error %q codes %v", tok.Error, tok.ErrorCodes)
			return "", rn.fail(opToken, resp.StatusCode, tokenFix(tok.Error, tok.ErrorCodes, r.cfg.TenantID), cause)
		}
		r.token = tok.AccessToken
		r.tokenExpiry = now.Add(time.Duration(tok.ExpiresIn) * time.Second)
		return r.token, nil
	}
}

func tokenFix(code string, codes []int, tenant string) string {
	for _, c := range codes {
		switch c {
		case 90002:
			return "tenant " + tenant + " does not exist in this cloud: check the tenant id and the login URL"
		case 700016:
			return "no app registration with this client id in tenant " + tenant + ": check the client id"
		case 7000222:
			return "the client secret has expired: create a new one under Certificates & secrets and update the link's secret"
		case 7000215:
			return "the client secret is wrong: use the secret's Value, not its Secret ID"
		case 700027, 700024:
			return "the client assertion was refused: upload the certificate to the app registration and check the clock"
		}
	}
	if code == "invalid_client" || code == "unauthorized_client" {
		return "the client credentials were refused: check the client id and client secret or certificate of the app registration"
	}
	return "no token from the Microsoft login endpoint: check the tenant id, client id and client secret"
}

// clientAssertion is the private_key_jwt client assertion Microsoft's
// "certificate credentials" page describes: PS256, typ JWT, the certificate
// named by x5t#S256 (and by the older SHA-1 x5t), aud the token endpoint,
// iss = sub = client id, a fresh jti, valid for 10 minutes.
func clientAssertion(c *Certificate, clientID, audience string, now time.Time) (string, error) {
	s1 := sha1.Sum(c.Cert.Raw)
	s256 := sha256.Sum256(c.Cert.Raw)
	header, err := json.Marshal(map[string]string{
		"alg":      "PS256",
		"typ":      "JWT",
		"x5t":      b64(s1[:]),
		"x5t#S256": b64(s256[:]),
	})
	if err != nil {
		return "", err
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	claims, err := json.Marshal(map[string]any{
		"aud": audience,
		"iss": clientID,
		"sub": clientID,
		"jti": hex.EncodeToString(jti[:]),
		"nbf": now.Unix(),
		"iat": now.Unix(),
		"exp": now.Add(10 * time.Minute).Unix(),
	})
	if err != nil {
		return "", err
	}
	signing := b64(header) + "." + b64(claims)
	digest := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPSS(rand.Reader, c.Key, crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	if err != nil {
		return "", err
	}
	return signing + "." + b64(sig), nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

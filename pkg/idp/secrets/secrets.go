// Package secrets resolves the secret references an IdP link names: a file
// locally, a Secrets Manager secret on AWS. A secret is read when a run
// needs it and never stored, logged or returned by an admin surface.
package secrets

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/scimgate/scimgate/pkg/idp"
)

// Files reads secrets from files (the embedded store's links).
type Files struct{}

// Secret implements idp.SecretSource: the file's content, its trailing
// newline trimmed (an editor's or `echo`'s).
func (Files) Secret(_ context.Context, ref string) ([]byte, error) {
	if idp.IsSecretARN(ref) {
		return nil, fmt.Errorf("read secret: %s is a Secrets Manager ARN, and this process reads only files", ref)
	}
	b, err := os.ReadFile(ref)
	if err != nil {
		// The path error names the file, never the content.
		return nil, fmt.Errorf("read secret file: %w", err)
	}
	return []byte(strings.TrimRight(string(b), "\r\n")), nil
}

// SecretsManagerAPI is the part of the Secrets Manager client it uses.
type SecretsManagerAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// SecretsManager reads secrets by ARN. Prefix, when set, is the only ARN
// prefix it reads (the deployment's, mirroring the IAM policy), so a link
// cannot name another deployment's secret even where IAM would allow it.
type SecretsManager struct {
	Client SecretsManagerAPI
	Prefix string
}

// Secret implements idp.SecretSource.
func (s SecretsManager) Secret(ctx context.Context, ref string) ([]byte, error) {
	if !idp.IsSecretARN(ref) {
		return nil, fmt.Errorf("read secret: %q is not a Secrets Manager ARN; links on AWS name their secrets by ARN", ref)
	}
	if s.Prefix != "" && !strings.HasPrefix(ref, s.Prefix) {
		return nil, fmt.Errorf("read secret: %s is not under this deployment's prefix %s", ref, s.Prefix)
	}
	out, err := s.Client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &ref})
	if err != nil {
		return nil, fmt.Errorf("read secret %s: %w", ref, err)
	}
	switch {
	case out.SecretString != nil:
		return []byte(*out.SecretString), nil
	case len(out.SecretBinary) > 0:
		return out.SecretBinary, nil
	}
	return nil, errors.New("read secret " + ref + ": it has no value")
}

// Mixed reads ARNs with SM (when set) and everything else as files: what
// the CLI uses, since an operator may run it against either store.
type Mixed struct{ SM *SecretsManager }

// Secret implements idp.SecretSource.
func (m Mixed) Secret(ctx context.Context, ref string) ([]byte, error) {
	if idp.IsSecretARN(ref) {
		if m.SM == nil {
			return nil, fmt.Errorf("read secret %s: no Secrets Manager client", ref)
		}
		return m.SM.Secret(ctx, ref)
	}
	return Files{}.Secret(ctx, ref)
}

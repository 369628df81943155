package secrets_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/scimgate/scimgate/pkg/idp/secrets"
)

type fakeSM struct{ asked []string }

func (f *fakeSM) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.asked = append(f.asked, *in.SecretId)
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String("s3cret")}, nil
}

func TestFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	os.WriteFile(path, []byte("00token\n"), 0o600)
	if b, err := (secrets.Files{}).Secret(context.Background(), path); err != nil || string(b) != "00token" {
		t.Fatalf("file secret = %q, %v", b, err)
	}
	_, err := (secrets.Files{}).Secret(context.Background(), path+"-missing")
	if err == nil || strings.Contains(err.Error(), "00token") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestSecretsManagerPrefix(t *testing.T) {
	f := &fakeSM{}
	sm := secrets.SecretsManager{Client: f, Prefix: "arn:aws:secretsmanager:eu-west-1:1:secret:stack/"}
	ctx := context.Background()
	if b, err := sm.Secret(ctx, "arn:aws:secretsmanager:eu-west-1:1:secret:stack/okta-AbC"); err != nil || string(b) != "s3cret" {
		t.Fatalf("in prefix = %q, %v", b, err)
	}
	for _, ref := range []string{"arn:aws:secretsmanager:eu-west-1:1:secret:other/okta", "/etc/token"} {
		if _, err := sm.Secret(ctx, ref); err == nil {
			t.Errorf("%s was read", ref)
		}
	}
	if len(f.asked) != 1 {
		t.Fatalf("Secrets Manager was asked for %v; only the one under the prefix may be", f.asked)
	}
}

package lambdamain

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func TestAWSConfigFromEnv(t *testing.T) {
	lambdaEnv := map[string]string{
		"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token",
	}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range lambdaEnv {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name         string
		env          map[string]string
		wantErr      bool
		wantRegion   string
		wantEndpoint string
	}{
		{name: "as Lambda sets it", env: lambdaEnv, wantRegion: "eu-west-1"},
		{name: "empty endpoint, as the template declares it", env: with(map[string]string{"AWS_ENDPOINT_URL_DYNAMODB": ""}), wantRegion: "eu-west-1"},
		{name: "local DynamoDB", env: with(map[string]string{"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:5000", "AWS_ENDPOINT_URL": "http://other"}),
			wantRegion: "eu-west-1", wantEndpoint: "http://127.0.0.1:5000"},
		{name: "generic endpoint", env: with(map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:6000"}), wantRegion: "eu-west-1", wantEndpoint: "http://127.0.0.1:6000"},
		{name: "default region", env: with(map[string]string{"AWS_REGION": "", "AWS_DEFAULT_REGION": "us-east-2"}), wantRegion: "us-east-2"},
		{name: "no region", env: with(map[string]string{"AWS_REGION": ""}), wantErr: true},
		{name: "no credentials", env: with(map[string]string{"AWS_SECRET_ACCESS_KEY": ""}), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := awsConfigFromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Region != tt.wantRegion || aws.ToString(cfg.BaseEndpoint) != tt.wantEndpoint {
				t.Errorf("region %q endpoint %q, want %q %q", cfg.Region, aws.ToString(cfg.BaseEndpoint), tt.wantRegion, tt.wantEndpoint)
			}
			creds, err := cfg.Credentials.Retrieve(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if creds.AccessKeyID != tt.env["AWS_ACCESS_KEY_ID"] || creds.SecretAccessKey != tt.env["AWS_SECRET_ACCESS_KEY"] || creds.SessionToken != tt.env["AWS_SESSION_TOKEN"] {
				t.Errorf("credentials %+v", creds)
			}
		})
	}
}

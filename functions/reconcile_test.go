package functions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/scimgate/scimgate/functions/internal/reconcilemain"
	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/drift"
	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/idp"
	"github.com/scimgate/scimgate/pkg/idp/okta/oktatest"
	"github.com/scimgate/scimgate/pkg/scim"
)

const reconcileOktaToken = "00function-okta-secret-token"

// TestReconcileFunction runs the ReconcileFunction's real wiring against
// moto (DynamoDB and Secrets Manager) and the Okta double: a scheduled run
// repairs the connection whose policy says so and only reports the other;
// it reads the secret by ARN under the prefix and refuses one outside it;
// its DynamoDB calls need exactly the actions the template grants; its EMF
// line carries a metric per drift kind; no log line holds the token.
func TestReconcileFunction(t *testing.T) {
	srv := moto.Server(t)
	client := srv.Client(t)
	table := srv.NewTable(t, client)
	ctx := context.Background()
	setLambdaEnv(t, srv)
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", srv.Endpoint())
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sm := secretsmanager.NewFromConfig(awsCfg)
	secret := func(name, value string) string {
		out, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
		if err != nil {
			t.Fatal(err)
		}
		return *out.ARN
	}
	inPrefix := secret("scimgate-test/okta-acme", reconcileOktaToken)
	outside := secret("other-stack/okta", reconcileOktaToken)
	prefix := inPrefix[:strings.Index(inPrefix, "scimgate-test/")+len("scimgate-test/")]

	st := dynamostore.New(client, table)
	svc := scim.NewService(st)
	double := oktatest.New(t, "0oaApp")
	double.APIToken = reconcileOktaToken
	ids := map[string]string{}
	for _, c := range []struct {
		conn   scim.Connection
		policy idp.Policy
		ref    string
	}{
		{scim.Connection{Tenant: "acme", SSO: "okta"}, idp.PolicyRepair, inPrefix},
		{scim.Connection{Tenant: "beta", SSO: "okta"}, idp.PolicyReport, inPrefix},
		{scim.Connection{Tenant: "gamma", SSO: "okta"}, idp.PolicyRepair, outside},
	} {
		if _, err := auth.Issue(ctx, st, c.conn, time.Now()); err != nil {
			t.Fatal(err)
		}
		res, err := svc.Create(ctx, c.conn, scim.UserResource, []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"left@example.com","externalId":"00uLEFT"}`))
		if err != nil {
			t.Fatal(err)
		}
		ids[c.conn.Tenant] = res.Resource.ID
		if _, err := svc.Create(ctx, c.conn, scim.GroupResource, []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Team","members":[{"value":"`+res.Resource.ID+`"}]}`)); err != nil {
			t.Fatal(err)
		}
		if err := st.PutIdPLink(ctx, c.conn, idp.Link{Kind: idp.Okta, Policy: c.policy,
			Okta: &idp.OktaLink{OrgURL: double.URL, AppID: "0oaApp", APITokenRef: c.ref}}); err != nil {
			t.Fatal(err)
		}
	}
	double.AddGroup(oktatest.Group{ID: "00gT", Name: "Team"})
	double.Push("00gT", "ACTIVE")
	// An unlinked connection is left alone.
	if _, err := auth.Issue(ctx, st, scim.Connection{Tenant: "delta", SSO: "okta"}, time.Now()); err != nil {
		t.Fatal(err)
	}

	env := map[string]string{"SCIMGATE_DYNAMODB_TABLE": table, "LOG_LEVEL": "INFO", reconcilemain.EnvSecretPrefix: prefix}
	rec := &iamRecorder{table: table}
	var out bytes.Buffer
	h, err := reconcilemain.New(ctx, func(k string) string { return env[k] }, &out, rec.clientOption())
	if err != nil {
		t.Fatal(err)
	}
	sum, err := h(ctx, json.RawMessage(`{"version":"0","source":"aws.events","detail-type":"Scheduled Event","detail":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	// acme repaired; beta reported; gamma's secret is outside the prefix: failed, unchanged.
	if sum.Connections != 3 || sum.Failed != 1 || sum.Counts[drift.ActiveNotAssigned] != 2 || sum.Repaired[drift.ActiveNotAssigned] != 1 ||
		sum.Repaired[drift.MemberExtra] != 1 || !sum.Complete {
		t.Fatalf("summary = %+v", sum)
	}
	for tenant, active := range map[string]bool{"acme": false, "beta": true, "gamma": true} {
		u, err := st.Get(ctx, scim.Connection{Tenant: tenant, SSO: "okta"}, scim.UserResource, ids[tenant], false)
		if err != nil || u.Active != active {
			t.Errorf("%s's user active = %v, want %v (%v)", tenant, u != nil && u.Active, active, err)
		}
	}
	if !strings.Contains(out.String(), `"ReconcileActiveNotAssigned":2`) || !strings.Contains(out.String(), `"ReconcileGroupNotPushed":0`) {
		t.Errorf("no drift metrics in the output:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "not under this deployment's prefix") {
		t.Errorf("the refused secret is not logged:\n%s", out.String())
	}
	if strings.Contains(out.String(), reconcileOktaToken) {
		t.Fatalf("a log line holds the Okta token:\n%s", out.String())
	}

	// Invoked for one connection, it returns the report.
	sum, err = h(ctx, json.RawMessage(`{"tenant":"beta","sso":"okta"}`))
	if err != nil || sum.Report == nil || sum.Report.Counts[drift.ActiveNotAssigned] != 1 {
		t.Fatalf("direct invocation: %+v, %v", sum, err)
	}

	used, problems := rec.used()
	for _, p := range problems {
		t.Error(p)
	}
	fn, ok := loadTemplate(t).Function("ReconcileFunction")
	if !ok {
		t.Fatal("the template has no ReconcileFunction")
	}
	granted, _ := fn.Actions()
	var grantedDynamo []string
	for _, a := range granted {
		if strings.HasPrefix(a, "dynamodb:") {
			grantedDynamo = append(grantedDynamo, a)
		}
	}
	slices.Sort(grantedDynamo)
	if !slices.Equal(used, grantedDynamo) {
		t.Errorf("ReconcileFunction needs %v, the template grants %v", used, grantedDynamo)
	}
	if !slices.Contains(granted, "secretsmanager:GetSecretValue") {
		t.Error("ReconcileFunction may not read its secrets")
	}
}

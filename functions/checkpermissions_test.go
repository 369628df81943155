package functions_test

import (
	"bytes"
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/functions/internal/checkmain"
	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/scim"
)

// TestCheckFunctionPermissions runs the scheduled check's real wiring
// against moto on a table holding a connection with a user and a group,
// and compares the IAM actions its calls need with those the template
// grants CheckFunction: exactly those, on the table only.
func TestCheckFunctionPermissions(t *testing.T) {
	srv := moto.Server(t)
	client := srv.Client(t)
	table := srv.NewTable(t, client)
	ctx := context.Background()
	st := dynamostore.New(client, table)
	conn := scim.Connection{Tenant: "acme", SSO: "okta"}
	if _, err := auth.Issue(ctx, st, conn, time.Now()); err != nil {
		t.Fatal(err)
	}
	svc := scim.NewService(st)
	user, err := svc.Create(ctx, conn, scim.UserResource, []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Create(ctx, conn, scim.GroupResource, []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Team","members":[{"value":"`+user.Resource.ID+`"}]}`)); err != nil {
		t.Fatal(err)
	}
	setLambdaEnv(t, srv)
	env := map[string]string{"SCIMGATE_DYNAMODB_TABLE": table, "LOG_LEVEL": "ERROR"}
	rec := &iamRecorder{table: table}
	var out bytes.Buffer
	h, err := checkmain.New(ctx, func(k string) string { return env[k] }, &out, rec.clientOption())
	if err != nil {
		t.Fatal(err)
	}
	sum, err := h(ctx, nil)
	if err != nil || sum.Connections != 1 || sum.Violations != 0 || !sum.Complete {
		t.Fatalf("check: %+v, %v", sum, err)
	}
	if !strings.Contains(out.String(), `"Drift":0`) {
		t.Errorf("no Drift metric in the output:\n%s", out.String())
	}

	used, problems := rec.used()
	for _, p := range problems {
		t.Error(p)
	}
	fn, ok := loadTemplate(t).Function("CheckFunction")
	if !ok {
		t.Fatal("the template has no CheckFunction")
	}
	granted, resources := fn.Actions()
	slices.Sort(granted)
	if !slices.Equal(used, granted) {
		t.Errorf("CheckFunction needs %v, the template grants %v", used, granted)
	}
	for _, r := range resources {
		if !reflect.DeepEqual(r, map[string]any{"Fn::GetAtt": []any{"Table", "Arn"}}) {
			t.Errorf("policy resource %v, want only the table's ARN", r)
		}
	}
}

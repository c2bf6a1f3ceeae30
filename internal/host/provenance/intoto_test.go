package provenance

import (
	"context"
	"strings"
	"testing"

	slsa1 "github.com/in-toto/attestation/go/predicates/provenance/v1"
	ita1 "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// checkWithInToto reads a statement with the in-toto project's own Go
// bindings (github.com/in-toto/attestation: the Statement v1 and SLSA
// Provenance v1 protobuf messages), refusing unknown fields, and runs
// their validators: a second, maintained implementation of the two specs.
func checkWithInToto(payload []byte) error {
	var st ita1.Statement
	if err := protojson.Unmarshal(payload, &st); err != nil {
		return err
	}
	if err := st.Validate(); err != nil {
		return err
	}
	pj, err := protojson.Marshal(st.GetPredicate())
	if err != nil {
		return err
	}
	var p slsa1.Provenance
	if err := protojson.Unmarshal(pj, &p); err != nil {
		return err
	}
	return p.Validate()
}

func TestInTotoBindingsAccept(t *testing.T) {
	e, _, err := Read(context.Background(), fakeBuild(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkWithInToto(e.Payload); err != nil {
		t.Fatalf("the in-toto Go bindings refuse our statement: %v\n%s", err, e.Payload)
	}
	// The check can fail: a misspelled predicate field, a subject
	// without digest, an empty builder id are refused.
	for name, bad := range map[string]string{
		"misspelled field": strings.Replace(string(e.Payload), `"resolvedDependencies"`, `"resolvedDependency"`, 1),
		"bad digest":       strings.Replace(string(e.Payload), `"digest":{"sha256":"`, `"digest":{"sha256":"zz`, 1),
		"no builder id":    strings.Replace(string(e.Payload), `"id":"`+BuilderID+`"`, `"id":""`, 1),
	} {
		if checkWithInToto([]byte(bad)) == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

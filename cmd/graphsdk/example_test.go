package graphsdk_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/caseops/caseops/cmd/graphsdk"
	"github.com/microsoftgraph/msgraph-sdk-go/models/security"
)

// Creating a case and an estimate operation in it with the Graph SDK's security request builders,
// against a caseops started with `caseops serve` (its development token in $TOKEN).
// The README quotes this; TestGraphSDK does the same and much more.
func Example() {
	ctx := context.Background()
	adapter, err := graphsdk.NewRequestAdapter("http://127.0.0.1:8080/v1.0", os.Getenv("TOKEN"))
	if err != nil {
		log.Fatal(err)
	}
	cases := graphsdk.EdiscoveryCases(adapter) // /security/cases/ediscoveryCases

	newCase := security.NewEdiscoveryCase()
	newCase.SetDisplayName(ptr("Contoso v. Fabrikam"))
	ediscoveryCase, err := cases.Post(ctx, newCase, nil)
	if err != nil {
		log.Fatal(err) // an *odataerrors.ODataError for any answer caseops refuses
	}

	estimate := security.NewEdiscoveryEstimateOperation()
	estimate.SetOdataType(ptr("#microsoft.graph.security.ediscoveryEstimateOperation")) // the SDK leaves it unset
	estimate.SetIndexedItemCount(ptr(int64(1200)))
	estimate.SetStatisticsOptions(ptr(security.StatisticsOptions(security.INCLUDEREFINERS_STATISTICSOPTIONS)))
	op, err := cases.ByEdiscoveryCaseId(*ediscoveryCase.GetId()).Operations().Post(ctx, estimate, nil)
	if err != nil {
		log.Fatal(err)
	}
	if created, ok := op.(*security.EdiscoveryEstimateOperation); ok {
		fmt.Println(*created.GetId(), created.GetStatus(), *created.GetIndexedItemCount())
	}
}

func ptr[T any](v T) *T { return &v }

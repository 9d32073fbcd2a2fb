// Package graphsdk drives caseops with the official Microsoft Graph Go SDK, as a Graph client would:
// its own module, so the service's go.mod never carries the SDK. The acceptance test is in graphsdk_test.go.
package graphsdk

import (
	"context"
	"net/http"
	"net/url"
	"sync"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoft/kiota-abstractions-go/authentication"
	"github.com/microsoft/kiota-abstractions-go/serialization"
	"github.com/microsoft/kiota-abstractions-go/store"
	khttp "github.com/microsoft/kiota-http-go"
	jsonserialization "github.com/microsoft/kiota-serialization-json-go"
	textserialization "github.com/microsoft/kiota-serialization-text-go"
	msgraphgocore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/security"
)

// NewRequestAdapter returns the Graph SDK's request adapter for caseops at baseURL (such as
// http://127.0.0.1:8080/v1.0), sending token as the bearer token. It is what msgraph-sdk-go's
// GraphServiceClient sets up, without compiling every Graph request builder: the SDK's default middleware
// (gzip request bodies, retries, redirects), JSON and text/plain ($count) serialization, and the backing store.
func NewRequestAdapter(baseURL, token string) (*msgraphgocore.GraphRequestAdapterBase, error) {
	return newRequestAdapter(baseURL, token, nil)
}

// newRequestAdapter is NewRequestAdapter with the transport under the SDK's middleware given (nil: the SDK's own),
// so the test can watch what goes over the wire after the middleware has done its work.
func newRequestAdapter(baseURL, token string, wire http.RoundTripper) (*msgraphgocore.GraphRequestAdapterBase, error) {
	registerSerializers.Do(func() {
		abstractions.RegisterDefaultSerializer(func() serialization.SerializationWriterFactory {
			return jsonserialization.NewJsonSerializationWriterFactory()
		})
		abstractions.RegisterDefaultSerializer(func() serialization.SerializationWriterFactory {
			return textserialization.NewTextSerializationWriterFactory()
		})
		abstractions.RegisterDefaultDeserializer(func() serialization.ParseNodeFactory {
			return jsonserialization.NewJsonParseNodeFactory()
		})
		abstractions.RegisterDefaultDeserializer(func() serialization.ParseNodeFactory {
			return textserialization.NewTextParseNodeFactory()
		})
	})
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, err
	}
	auth := authentication.NewBaseBearerTokenAuthenticationProvider(staticToken{token: token, host: u.Hostname()})
	options := msgraphgocore.GraphClientOptions{GraphServiceLibraryVersion: "1.89.0"}
	client := msgraphgocore.GetDefaultClient(&options)
	if wire != nil {
		client.Transport = khttp.NewCustomTransportWithParentTransport(wire, msgraphgocore.GetDefaultMiddlewaresWithOptions(&options)...)
	}
	adapter, err := msgraphgocore.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		auth, options, nil, nil, client)
	if err != nil {
		return nil, err
	}
	adapter.SetBaseUrl(baseURL)
	adapter.EnableBackingStore(store.BackingStoreFactoryInstance)
	return adapter, nil
}

// EdiscoveryCases is /security/cases/ediscoveryCases under the adapter's base URL, as
// client.Security().Cases().EdiscoveryCases() is on a GraphServiceClient.
func EdiscoveryCases(adapter abstractions.RequestAdapter) *security.CasesEdiscoveryCasesRequestBuilder {
	return security.NewSecurityRequestBuilderInternal(map[string]string{"baseurl": adapter.GetBaseUrl()}, adapter).
		Cases().EdiscoveryCases()
}

var registerSerializers sync.Once

// staticToken hands one bearer token to requests for one host only, so a followed link elsewhere never gets it.
type staticToken struct{ token, host string }

func (s staticToken) GetAuthorizationToken(_ context.Context, u *url.URL, _ map[string]any) (string, error) {
	if !s.GetAllowedHostsValidator().IsUrlHostValid(u) {
		return "", nil
	}
	return s.token, nil
}

func (s staticToken) GetAllowedHostsValidator() *authentication.AllowedHostsValidator {
	v := authentication.NewAllowedHostsValidator([]string{s.host})
	return &v
}

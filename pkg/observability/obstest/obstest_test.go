package obstest_test

import (
	"context"
	"testing"

	"github.com/mobilitycorp/platform/pkg/observability/obstest"
)

func TestRecorderSeesEndedSpans(t *testing.T) {
	tel, rec := obstest.NewForTest(t)
	_, span := tel.Tracer("test").Start(context.Background(), "reserve")
	span.End()

	ended := rec.Ended()
	if len(ended) != 1 || ended[0].Name() != "reserve" || !ended[0].SpanContext().IsSampled() {
		t.Fatalf("ended spans %v, want one sampled span named reserve", ended)
	}
}

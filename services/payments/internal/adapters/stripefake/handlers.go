package stripefake

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/mobilitycorp/platform/services/payments/internal/adapters/sandbox"
	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// placeholderCurrency stands in when an intent is unknown: the sandbox's lookup
// then answers resource_missing (or 503 during an outage) exactly as it would
// for the stripe adapter, so only validation must pass. XXX is ISO 4217's
// "no currency".
const placeholderCurrency = "XXX"

func (s *Server) createCustomer(c *call) reply {
	p := newParams(c.r.Form, "email", "name")
	email, name := p.str("email"), p.str("name")
	if p.err != nil {
		return *p.err
	}
	id, err := s.sb.CreateCustomer(c.ctx(), c.key, email, name)
	if err != nil {
		return s.sandboxError(c, err, app.Intent{})
	}
	rec, _ := s.sb.Customer(id)
	return ok(renderCustomer(rec))
}

func (s *Server) attachPaymentMethod(c *call) reply {
	id := c.r.PathValue("id")
	p := newParams(c.r.Form, "customer", "expand[")
	customer := p.required("customer")
	p.expand()
	if p.err != nil {
		return *p.err
	}
	if err := s.sb.AttachPaymentMethod(c.ctx(), c.key, customer, id); err != nil {
		return s.sandboxError(c, err, app.Intent{})
	}
	m, _ := s.sb.PaymentMethod(id)
	return ok(s.renderPaymentMethod(m, customer))
}

func (s *Server) createIntent(c *call) reply {
	const incremental = "payment_method_options[card][request_incremental_authorization]"
	p := newParams(c.r.Form, "amount", "currency", "customer", "payment_method", "capture_method",
		"confirm", "off_session", "description", "metadata[", incremental, "payment_method_types[", "expand[")
	amount := p.requiredInt("amount")
	currency := p.currency()
	p.modelled("capture_method", "manual")
	p.modelled("confirm", "true")
	p.modelled("off_session", "true", "one_off", "recurring")
	p.modelled(incremental, "if_available")
	if types := p.list("payment_method_types"); len(types) > 0 && !slices.Equal(types, []string{"card"}) {
		p.fail(invalid("", "payment_method_types", "stripefake models card payments only (payment_method_types[]=card)."))
	}
	expand := p.expand("latest_charge")
	req := app.AuthoriseRequest{
		IdempotencyKey: c.key,
		CustomerRef:    p.str("customer"),
		PaymentMethod:  p.str("payment_method"),
		Amount:         domain.Money{AmountMinor: amount, Currency: currency},
		Description:    p.str("description"),
		Metadata:       p.metadata(),
	}
	if p.err != nil {
		return *p.err
	}
	in, err := s.sb.Authorise(c.ctx(), req)
	if err != nil {
		return s.sandboxError(c, err, in)
	}
	return s.intentReply(in.ID, expand)
}

func (s *Server) retrieveIntent(c *call) reply {
	p := newParams(c.r.Form, "expand[")
	expand := p.expand("latest_charge")
	if p.err != nil {
		return *p.err
	}
	in, err := s.sb.GetIntent(c.ctx(), c.r.PathValue("id"))
	if err != nil {
		return s.sandboxError(c, err, app.Intent{})
	}
	return s.intentReply(in.ID, expand)
}

func (s *Server) updateIntent(c *call) reply {
	p := newParams(c.r.Form, "description", "metadata[", "expand[")
	var u sandbox.IntentUpdate
	if _, ok := c.r.Form["description"]; ok {
		d := p.str("description")
		u.Description = &d
	}
	u.Metadata = p.metadata()
	expand := p.expand("latest_charge")
	if p.err != nil {
		return *p.err
	}
	in, err := s.sb.UpdateIntent(c.ctx(), c.key, c.r.PathValue("id"), u)
	if err != nil {
		return s.sandboxError(c, err, app.Intent{})
	}
	return s.intentReply(in.ID, expand)
}

func (s *Server) captureIntent(c *call) reply {
	id := c.r.PathValue("id")
	p := newParams(c.r.Form, "amount_to_capture", "expand[")
	amount, given := p.int("amount_to_capture")
	expand := p.expand("latest_charge")
	if p.err != nil {
		return *p.err
	}
	rec, found := s.sb.Intent(id)
	if !given {
		// Stripe captures everything capturable; ask for at least 1 so that an
		// intent with nothing capturable gets the sandbox's state error.
		amount = max(rec.AmountCapturable, 1)
	}
	in, err := s.sb.Capture(c.ctx(), c.key, id, domain.Money{AmountMinor: amount, Currency: currencyOf(rec, found)})
	if err != nil {
		return s.sandboxError(c, err, app.Intent{})
	}
	return s.intentReply(in.ID, expand)
}

func (s *Server) cancelIntent(c *call) reply {
	p := newParams(c.r.Form, "cancellation_reason", "expand[")
	reason := p.oneOf("cancellation_reason", "duplicate", "fraudulent", "requested_by_customer", "abandoned")
	expand := p.expand("latest_charge")
	if p.err != nil {
		return *p.err
	}
	in, err := s.sb.Cancel(c.ctx(), c.key, c.r.PathValue("id"))
	if err != nil {
		return s.sandboxError(c, err, app.Intent{})
	}
	s.cancelReasons[in.ID] = reason
	return s.intentReply(in.ID, expand)
}

func (s *Server) incrementAuthorization(c *call) reply {
	id := c.r.PathValue("id")
	p := newParams(c.r.Form, "amount", "expand[")
	amount := p.requiredInt("amount")
	expand := p.expand("latest_charge")
	if p.err != nil {
		return *p.err
	}
	rec, found := s.sb.Intent(id)
	in, err := s.sb.IncrementAuthorisation(c.ctx(), c.key, id, domain.Money{AmountMinor: amount, Currency: currencyOf(rec, found)})
	if err != nil {
		return s.sandboxError(c, err, app.Intent{})
	}
	return s.intentReply(in.ID, expand)
}

func (s *Server) createRefund(c *call) reply {
	if _, ok := c.r.Form["charge"]; ok {
		return invalid("", "charge", "stripefake models refunds by payment_intent only.")
	}
	p := newParams(c.r.Form, "payment_intent", "amount", "reason", "metadata[")
	intentID := p.required("payment_intent")
	amount, given := p.int("amount")
	reason := p.oneOf("reason", "duplicate", "fraudulent", "requested_by_customer")
	md := p.metadata()
	if p.err != nil {
		return *p.err
	}
	rec, found := s.sb.Intent(intentID)
	if !given {
		// Stripe refunds what is left; ask for at least 1 so that nothing left
		// gets the sandbox's charge_already_refunded or state error.
		amount = max(rec.AmountReceived-rec.AmountRefunded, 1)
	}
	// The sandbox keeps one reason: Stripe's enum value, else ours from metadata.
	sbReason := reason
	if sbReason == "" {
		sbReason = md["reason"]
	}
	ref, err := s.sb.Refund(c.ctx(), c.key, intentID, domain.Money{AmountMinor: amount, Currency: currencyOf(rec, found)}, sbReason)
	if err != nil {
		return s.sandboxError(c, err, app.Intent{})
	}
	rr, _ := s.sb.RefundByID(ref.ID)
	return ok(s.renderRefund(rr, reason, md))
}

func currencyOf(rec sandbox.IntentRecord, found bool) string {
	if !found {
		return placeholderCurrency
	}
	return rec.Amount.Currency
}

func (s *Server) intentReply(id string, expandCharge bool) reply {
	rec, found := s.sb.Intent(id)
	if !found {
		return apiError(http.StatusInternalServerError, "api_error", "", "", "stripefake: intent "+id+" vanished")
	}
	return ok(s.renderIntent(rec, expandCharge))
}

func (s *Server) cancelReason(intentID string) string { return s.cancelReasons[intentID] }

// sandboxError renders a sandbox failure as Stripe's error object. A card
// error carries the declined PaymentIntent, its charge and payment method, as
// Stripe's does.
func (s *Server) sandboxError(c *call, err error, in app.Intent) reply {
	var ge *app.GatewayError
	if !errors.As(err, &ge) {
		return apiError(http.StatusInternalServerError, "api_error", "", "", "stripefake: "+err.Error())
	}
	msg, param, unsaved := ge.Error(), "", false
	var d *sandbox.ErrorDetail
	if errors.As(ge.Err, &d) {
		msg, param, unsaved = d.Message, d.Param, d.Unsaved
	}
	status := ge.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	e := errorJSON{
		Type:          errorType(ge.Kind),
		Code:          ge.Code,
		DeclineCode:   ge.DeclineCode,
		Message:       msg,
		Param:         param,
		DocURL:        docURL(ge.Code),
		RequestLogURL: "https://dashboard.stripe.com/test/logs/" + c.reqID,
	}
	if e.Type == "card_error" && in.ID != "" {
		if rec, found := s.sb.Intent(in.ID); found {
			pm, _ := s.sb.PaymentMethod(rec.PaymentMethod)
			e.PaymentIntent = s.renderIntent(rec, false)
			e.Charge = rec.ChargeID
			e.PaymentMethod = s.renderPaymentMethod(pm, rec.CustomerRef)
		}
	}
	return reply{status: status, body: errorBody{Error: e}, unsaved: unsaved}
}

// params reads a form the way Stripe does: unknown parameters are refused, and
// the first problem found is kept in err.
type params struct {
	v   url.Values
	err *reply
}

// newParams checks v against allowed names; a name ending in "[" allows any
// bracketed key under it (metadata[trip_id], expand[0]).
func newParams(v url.Values, allowed ...string) *params {
	p := &params{v: v}
	names := make([]string, 0, len(v))
	for name := range v {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !slices.ContainsFunc(allowed, func(a string) bool { return permitted(name, a) }) {
			p.fail(invalid("parameter_unknown", name, "Received unknown parameter: "+name))
		}
	}
	return p
}

func permitted(name, allowed string) bool {
	if strings.HasSuffix(allowed, "[") {
		return strings.HasPrefix(name, allowed) && strings.HasSuffix(name, "]") && len(name) > len(allowed)
	}
	return name == allowed
}

func (p *params) fail(r reply) {
	if p.err == nil {
		p.err = &r
	}
}

func (p *params) str(name string) string { return p.v.Get(name) }

func (p *params) required(name string) string {
	v := p.v.Get(name)
	if v == "" {
		p.fail(invalid("parameter_missing", name, "Missing required param: "+name+"."))
	}
	return v
}

// int parses an optional integer; given reports whether it was sent.
func (p *params) int(name string) (n int64, given bool) {
	raw, given := p.v[name]
	if !given {
		return 0, false
	}
	n, err := strconv.ParseInt(raw[0], 10, 64)
	if err != nil {
		p.fail(invalid("parameter_invalid_integer", name, "Invalid integer: "+raw[0]))
	}
	return n, true
}

func (p *params) requiredInt(name string) int64 {
	if _, ok := p.v[name]; !ok {
		p.fail(invalid("parameter_missing", name, "Missing required param: "+name+"."))
		return 0
	}
	n, _ := p.int(name)
	return n
}

var currencyParam = regexp.MustCompile(`^[a-zA-Z]{3}$`)

// currency reads the required currency; Stripe takes it lower-case, the
// sandbox (like the domain) upper-case.
func (p *params) currency() string {
	c := p.required("currency")
	if c != "" && !currencyParam.MatchString(c) {
		p.fail(invalid("", "currency", "Invalid currency: "+c+"."))
	}
	return strings.ToUpper(c)
}

// oneOf reads an optional enum.
func (p *params) oneOf(name string, values ...string) string {
	v := p.v.Get(name)
	if v != "" && !slices.Contains(values, v) {
		p.fail(invalid("", name, fmt.Sprintf("Invalid %s: must be one of %s", name, strings.Join(values, ", "))))
	}
	return v
}

// modelled refuses values of name the fake does not model; name must be sent.
func (p *params) modelled(name string, values ...string) {
	v := p.v.Get(name)
	if !slices.Contains(values, v) {
		p.fail(invalid("", name, fmt.Sprintf("stripefake models %s=%s only (got %q).", name, strings.Join(values, "|"), v)))
	}
}

func (p *params) metadata() map[string]string {
	var md map[string]string
	for name, vals := range p.v {
		key, ok := strings.CutPrefix(name, "metadata[")
		if !ok || !strings.HasSuffix(key, "]") {
			continue
		}
		if md == nil {
			md = map[string]string{}
		}
		md[strings.TrimSuffix(key, "]")] = vals[0]
	}
	return md
}

// list reads name[0], name[1], ... (or name[]) in index order.
func (p *params) list(name string) []string {
	type item struct {
		idx int
		val string
	}
	var items []item
	for key, vals := range p.v {
		inner, ok := strings.CutPrefix(key, name+"[")
		if !ok || !strings.HasSuffix(inner, "]") {
			continue
		}
		idx, err := strconv.Atoi(strings.TrimSuffix(inner, "]"))
		if err != nil {
			idx = -1 // name[]: keep the order the values came in
		}
		for _, v := range vals {
			items = append(items, item{idx, v})
		}
	}
	slices.SortStableFunc(items, func(a, b item) int { return a.idx - b.idx })
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.val
	}
	return out
}

// expand reads expand[] and reports whether latest_charge was asked for;
// fields outside expandable are refused with Stripe's message.
func (p *params) expand(expandable ...string) bool {
	charge := false
	for _, f := range p.list("expand") {
		if !slices.Contains(expandable, f) {
			p.fail(invalid("", "expand", "This property cannot be expanded ("+f+")."))
			continue
		}
		charge = charge || f == "latest_charge"
	}
	return charge
}

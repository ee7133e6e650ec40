-- +goose Up

-- booking_lock_eligible is the in-transaction half of the eligibility check of
-- a reservation: the application checks every rule first (with reasons), then
-- the reservation's insert batch calls this, which holds the customer row
-- (FOR SHARE) until the insert commits and re-checks the rules a concurrent
-- staff decision or customer change can revoke: a block, the licence's
-- verification (for cars and vans), the payment method. A block committed
-- before it is seen (and refused with SQLSTATE BK403); a block committed
-- after waits for the reservation. It lets the insert stay one round trip.
-- Trip start calls it in its transaction as well.
-- +goose StatementBegin
CREATE FUNCTION booking_lock_eligible(p_customer_id TEXT, p_needs_licence BOOLEAN) RETURNS VOID
LANGUAGE plpgsql AS $$
DECLARE
    c RECORD;
BEGIN
    SELECT blocked_at, licence_status, payment_method INTO c
      FROM customers WHERE id = p_customer_id FOR SHARE;
    -- Customers are never deleted and the application found this one before;
    -- no row means a caller that bypassed the application (store tests).
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF c.blocked_at IS NOT NULL THEN
        RAISE EXCEPTION 'customer % is blocked', p_customer_id USING ERRCODE = 'BK403';
    END IF;
    IF p_needs_licence AND c.licence_status IS DISTINCT FROM 'verified' THEN
        RAISE EXCEPTION 'customer % has no verified driving licence', p_customer_id USING ERRCODE = 'BK403';
    END IF;
    IF c.payment_method IS NULL OR c.payment_method = '' THEN
        RAISE EXCEPTION 'customer % has no payment method', p_customer_id USING ERRCODE = 'BK403';
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION booking_lock_eligible(TEXT, BOOLEAN);

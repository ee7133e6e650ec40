package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// RunSessions runs session on a dedicated connection (never a pooled one: LISTEN and
// session-level advisory locks must not leak back into the pool) and, whenever the
// session ends with an error (connection lost, server restart), logs it and starts
// a new one after retry. It returns nil once ctx ends. Background loops that wait
// on NOTIFY or hold a leader lock (outbox relay, webhook processor) use it.
func RunSessions(ctx context.Context, pool *pgxpool.Pool, retry time.Duration, logger *slog.Logger, name string,
	session func(ctx context.Context, conn *pgx.Conn) error) error {
	for {
		err := runSession(ctx, pool, session)
		if ctx.Err() != nil {
			return nil
		}
		logger.WarnContext(ctx, name+" session ended, reconnecting", slog.Any("error", err))
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

func runSession(ctx context.Context, pool *pgxpool.Pool, session func(ctx context.Context, conn *pgx.Conn) error) error {
	conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = conn.Close(cctx) // the server drops LISTENs and session locks either way
	}()
	return session(ctx, conn)
}

package httpx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Serve listens on cfg.Addr and serves handler until ctx is cancelled, then shuts down
// gracefully (see ServeListener). Listen errors, such as a port in use, return at once.
func Serve(ctx context.Context, cfg Config, handler http.Handler, health *Health, logger *slog.Logger) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	return ServeListener(ctx, ln, cfg, handler, health, logger)
}

// ServeListener serves handler on ln until ctx is cancelled. Shutdown then marks health
// draining (if non-nil), waits cfg.DrainDelay, closes the listener and waits up to
// cfg.ShutdownTimeout for in-flight requests. It returns nil after a clean shutdown.
// ServeListener closes ln.
func ServeListener(ctx context.Context, ln net.Listener, cfg Config, handler http.Handler, health *Health, logger *slog.Logger) error {
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		// Requests inherit ctx's values but not its cancellation: shutdown must let
		// in-flight requests finish rather than cancel them.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:    slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.InfoContext(ctx, "http server listening", slog.String("addr", ln.Addr().String()))

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve http on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}

	logger.Info("http server draining", slog.Duration("drain_delay", cfg.DrainDelay))
	if health != nil {
		health.SetDraining()
	}
	if cfg.DrainDelay > 0 {
		// Keep serving while load balancers notice the failing readiness probe.
		drain := time.NewTimer(cfg.DrainDelay)
		select {
		case <-drain.C:
		case err := <-serveErr:
			drain.Stop()
			return fmt.Errorf("serve http on %s: %w", ln.Addr(), err)
		}
	}

	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	shutdownErr := srv.Shutdown(shutdownCtx)
	if shutdownErr != nil {
		// Requests still running past the timeout are cut off so the process can exit.
		_ = srv.Close()
	}
	// Serve has returned (ErrServerClosed) once Shutdown or Close was called; wait for
	// it so no goroutine outlives this function.
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http on %s: %w", ln.Addr(), err)
	}
	if shutdownErr != nil {
		return fmt.Errorf("shut down http server: %w", shutdownErr)
	}
	logger.Info("http server stopped")
	return nil
}

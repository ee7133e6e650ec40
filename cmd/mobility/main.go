// Command mobility is the developer CLI of the MobilityCorp platform.
//
//	mobility up                              start Kafka (embedded) and all five services locally
//	mobility token --role customer --sub ID  mint a development JWT
//	mobility services                        list services, ports and env prefixes
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mobility:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New(`usage:
  mobility up [--bin-dir DIR] [--kafka ADDR]   start the platform locally (Ctrl-C stops it)
  mobility token --role ROLE --sub ID [--ttl D] mint a development JWT (roles: customer, staff, admin, service)
  mobility services                             list services, ports and env prefixes`)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "up":
		return up(ctx, args[1:], stdout, stderr)
	case "token":
		return token(args[1:], stdout)
	case "services":
		return printServices(stdout)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, errUsage)
		return nil
	default:
		return fmt.Errorf("unknown command %q\n%w", args[0], errUsage)
	}
}

package main

import (
	"flag"
	"fmt"

	"github.com/scimgate/scimgate/pkg/httpapi"
	"github.com/scimgate/scimgate/pkg/ratelimit"
)

// opsFlags are serve's operational settings: the per-connection rate limit.
type opsFlags struct {
	rateLimit string
	rateBurst string
}

func (f *opsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.rateLimit, "rate-limit", env(ratelimit.EnvPerSecond, fmt.Sprint(ratelimit.DefaultPerSecond)), `requests per second per SSO connection, or "off"`)
	fs.StringVar(&f.rateBurst, "rate-burst", env(ratelimit.EnvBurst, fmt.Sprint(ratelimit.DefaultBurst)), "requests an SSO connection may send at once")
}

// apply adds the rate limit to the handler's configuration.
func (f *opsFlags) apply(cfg *httpapi.Config) error {
	limiter, err := ratelimit.FromEnv(func(name string) string {
		switch name {
		case ratelimit.EnvPerSecond:
			return f.rateLimit
		case ratelimit.EnvBurst:
			return f.rateBurst
		}
		return ""
	})
	if err != nil {
		return fmt.Errorf("--rate-limit/--rate-burst: %w", err)
	}
	cfg.Admit = limiter.Admit
	return nil
}

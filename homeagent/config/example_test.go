package config_test

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/mip6ha/mip6ha/homeagent/config"
)

// Load with no file: the defaults, overridden here by the environment and a
// flag.
func ExampleLoad() {
	fs := pflag.NewFlagSet("homeagent run", pflag.ContinueOnError)
	config.RegisterFlags(fs)
	if err := fs.Parse([]string{"--member-id", "ha1"}); err != nil {
		panic(err)
	}
	cfg, err := config.Load(config.LoadOptions{
		Flags: fs,
		Env:   []string{"MIP6HA_HOME_PREFIX=2001:db8:1::/64", "MIP6HA_HOME_HOST_RANGE=2001:db8:1::1000-2001:db8:1::1fff"},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(cfg.Cluster.MemberID, cfg.HomePool(), cfg.Store.Backend, cfg.Admin.Listen)
	// Output: ha1 2001:db8:1::1000-2001:db8:1::1fff embedded /run/mip6ha/admin.sock
}

// Every problem is reported at once, each naming its key and its source.
func ExampleLoad_invalid() {
	_, err := config.Load(config.LoadOptions{Env: []string{
		"MIP6HA_HOME_PREFIX=2001:db8::/129",
		"MIP6HA_TELEMETRY_LOG_LEVEL=loud",
		"MIP6HA_MIP6_GRACE_PERIOD=30",
	}})
	for _, ke := range config.KeyErrors(err) {
		fmt.Println(ke)
	}
	// Output:
	// config: home.prefix: "2001:db8::/129" is not a valid IPv6 prefix ($MIP6HA_HOME_PREFIX)
	// config: mip6.grace_period: "30" is a number without a unit: write a duration such as 30s ($MIP6HA_MIP6_GRACE_PERIOD)
	// config: telemetry.log_level: "loud" is not debug, info, warn or error ($MIP6HA_TELEMETRY_LOG_LEVEL)
}

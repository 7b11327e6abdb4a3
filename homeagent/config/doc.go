// Package config is the configuration of the home agent daemon: its schema
// (Config and its sections, one Go field per key, documented in
// docs/configuration.md), its defaults (Default), its validation (Validate
// and CheckFiles, which report every unusable value as a *KeyError naming
// the key), its loading from a YAML file, the environment and flags with
// spf13/viper (Load, RegisterFlags), its rendering with secrets redacted
// (Effective), and the converters to the typed configurations of the
// packages the runtime drives (PolicyConfig, View, HomeAgentConfig,
// TelemetryConfig, Credentials, OpenStore, ...).
//
// # Keys
//
// A key is a section and a name in lower case with underscores:
// "home.prefix", "store.etcd.dial_timeout". The same key is
//
//   - in a YAML file:    home: {prefix: 2001:db8:1::/64}
//   - in the environment: MIP6HA_HOME_PREFIX=2001:db8:1::/64
//   - as a flag:          --home.prefix 2001:db8:1::/64 (or --prefix)
//
// Precedence, lowest first: Default, the file, the environment, the flags
// the user set. An unknown key in the file is an error, as is a value of
// the wrong type; a number where a duration is expected needs a unit.
//
// # Secrets
//
// Pre-shared keys come inline (ike.psks) or from a secrets file
// (ike.secrets_file, one "IDENTITY SECRET" line per peer, see
// ParseSecrets). A file holding secrets (the secrets file, a private key,
// or a configuration file with inline keys) must not be readable or
// writable by others, nor writable by its group, and must belong to root
// or to the user running the home agent: Load refuses it otherwise. Redacted
// and Effective hide the secrets; errors never contain them.
package config

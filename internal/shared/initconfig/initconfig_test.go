package initconfig

import (
	"strings"
	"testing"
	"time"
)

func sample() *Config {
	return &Config{
		Schema: Schema, Name: "hello", Version: "1.0.0", BuildID: "abc", Hostname: "hello",
		Network: Network{Mode: "static", Interface: "eth0", Address: "10.0.2.15/24", Gateway: "10.0.2.2"},
		Services: []Service{{
			Name: "hello", Path: "/bin/hello", Args: []string{"-listen", ":8080"}, Env: []string{"A=b"},
			Dir: "/", Restart: "always", Burst: 5, Interval: Duration(time.Minute),
			Health: &Health{HTTP: "http://127.0.0.1:8080/healthz", Interval: Duration(time.Second),
				Timeout: Duration(time.Second), StartPeriod: Duration(30 * time.Second), Retries: 3},
			Limits: &Limits{Memory: 64 << 20, CPUWeight: 200, OpenFiles: 1024, Processes: 64},
		}},
		ShutdownGrace: Duration(5 * time.Second),
		Update:        Update{Settle: Duration(5 * time.Second), TrialDeadline: Duration(2 * time.Minute)},
	}
}

func TestRoundTrip(t *testing.T) {
	b, err := sample().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(b2) {
		t.Fatalf("round trip changed bytes:\n%s\n%s", b, b2)
	}
	if !strings.Contains(string(b), `"interval": "1m0s"`) {
		t.Errorf("durations should be strings: %s", b)
	}
}

func TestParseRejects(t *testing.T) {
	good, _ := sample().Marshal()
	cases := map[string]struct{ data, want string }{
		"unknown field": {strings.Replace(string(good), `"name": "hello",`, `"name": "hello", "nope": 1,`, 1), "unknown field"},
		"trailing":      {string(good) + "{}", "trailing data"},
		"schema":        {strings.Replace(string(good), `"schema": 1`, `"schema": 2`, 1), "schema 2"},
		"bad duration":  {strings.Replace(string(good), `"5s"`, `"5 parsecs"`, 1), "duration"},
		"no services":   {`{"schema":1,"name":"x","version":"1","network":{"mode":"none"},"shutdown_grace":"1s","update":{"settle":"1s","trial_deadline":"2s"}}`, "no services"},
		"bad restart":   {strings.Replace(string(good), `"always"`, `"sometimes"`, 1), `restart "sometimes"`},
		"relative path": {strings.Replace(string(good), `"/bin/hello"`, `"bin/hello"`, 1), "not absolute"},
		"bad address":   {strings.Replace(string(good), `10.0.2.15/24`, `10.0.2.15`, 1), "network.address"},
		"memory bytes":  {strings.Replace(string(good), `"memory": 67108864`, `"memory": 64`, 1), "memory 64 is below the 1MiB minimum"},
		"cpu weight":    {strings.Replace(string(good), `"cpu_weight": 200`, `"cpu_weight": 10001`, 1), "cpu_weight 10001 is not in 1-10000"},
		"open files":    {strings.Replace(string(good), `"open_files": 1024`, `"open_files": -1`, 1), "open_files -1"},
		"processes":     {strings.Replace(string(good), `"processes": 64`, `"processes": 4194305`, 1), "processes 4194305"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(c.data))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want error containing %q", err, c.want)
			}
		})
	}
}

func TestEmptyLimitsRejected(t *testing.T) {
	c := sample()
	c.Services[0].Limits = &Limits{}
	if _, err := c.Marshal(); err == nil || !strings.Contains(err.Error(), "services[0]: limits is empty") {
		t.Fatalf("got %v", err)
	}
}

func FuzzParse(f *testing.F) {
	good, _ := sample().Marshal()
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"schema":1,"services":[{"health":{}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		// Whatever parses must marshal and parse again to the same bytes.
		b, err := c.Marshal()
		if err != nil {
			t.Fatalf("parsed config does not marshal: %v", err)
		}
		c2, err := Parse(b)
		if err != nil {
			t.Fatalf("marshalled config does not parse: %v", err)
		}
		b2, _ := c2.Marshal()
		if string(b) != string(b2) {
			t.Fatalf("not stable:\n%s\n%s", b, b2)
		}
	})
}

func TestFollowConfig(t *testing.T) {
	key := make([]byte, 32)
	c := sample()
	c.Update.Channels = map[string][][]byte{"prod": {key}, "at": {key}}
	c.Update.Follow = &Follow{Registry: "10.0.2.2:5000", Repository: "acme/hello", Channel: "prod", Interval: Duration(time.Second), PlainHTTP: true}
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(b); err != nil {
		t.Fatalf("Parse: %v\n%s", err, b)
	}
	for name, mod := range map[string]func(c *Config){
		"channel not trusted": func(c *Config) { c.Update.Follow.Channel = "qa" },
		"short key":           func(c *Config) { c.Update.Channels["at"] = [][]byte{key[:31]} },
		"no registry":         func(c *Config) { c.Update.Follow.Registry = "" },
		"no interval":         func(c *Config) { c.Update.Follow.Interval = 0 },
	} {
		t.Run(name, func(t *testing.T) {
			c := sample()
			c.Update.Channels = map[string][][]byte{"prod": {key}, "at": {key}}
			f := *sampleFollow()
			c.Update.Follow = &f
			mod(c)
			if _, err := c.Marshal(); err == nil {
				t.Fatalf("Marshal accepted %+v", c.Update)
			}
		})
	}
}

func sampleFollow() *Follow {
	return &Follow{Registry: "10.0.2.2:5000", Repository: "acme/hello", Channel: "prod", Interval: Duration(time.Second), PlainHTTP: true}
}

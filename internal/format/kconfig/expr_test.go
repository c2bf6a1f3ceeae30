package kconfig

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestEvalExpr(t *testing.T) {
	cfg := Config{
		"CONFIG_Y":   "y",
		"CONFIG_M":   "m",
		"CONFIG_N":   "n",
		"CONFIG_NUM": "12",
		"CONFIG_HEX": "0x20",
		"CONFIG_STR": `"foo bar"`,
	}
	kc, err := Load(fstest.MapFS{"Kconfig": {Data: []byte("config UNSET_STR\n\tstring \"s\"\n")}}, "x86", "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	env := evalEnv{cfg: cfg, kc: kc}
	tests := []struct {
		expr string
		want tristate
	}{
		{"Y", triY},
		{"M", triM},
		{"N", triN},
		{"ABSENT", triN},
		{"y", triY},
		{"m", triM},
		{"n", triN},
		{"!Y", triN},
		{"!M", triM},
		{"!ABSENT", triY},
		{"Y && M", triM},
		{"Y || N", triY},
		{"M || N", triM},
		{"N || ABSENT", triN},
		{"!(Y && N) && M", triM},
		{"Y && N || M", triM}, // && binds tighter
		{"Y || N && N", triY},
		{"NUM > 10", triY},
		{"NUM >= 13", triN},
		{"NUM < HEX", triY}, // 12 < 0x20 numerically
		{"HEX = 32", triY},
		{"NUM != 12", triN},
		{`STR = "foo bar"`, triY},
		{`STR != "foo bar"`, triN},
		{`UNSET_STR = ""`, triY},
		{`ABSENT = n`, triY},
		{`M = m`, triY},
		{`"x86_64" = "x86"`, triN},
		{`'a' < 'b'`, triY},
		{"$(success,true)", triN},
		{"STR", triN}, // a string symbol is n in a tristate context
	}
	for _, tt := range tests {
		e, err := parseExpr(tt.expr)
		if err != nil {
			t.Errorf("parseExpr(%q): %v", tt.expr, err)
			continue
		}
		if got := env.eval(e); got != tt.want {
			t.Errorf("eval(%q) = %v, want %v", tt.expr, got, tt.want)
		}
	}
}

func TestParseExprErrors(t *testing.T) {
	for _, in := range []string{"", "A &&", "(A", "A)", "A B", "A =", "&& A", `"unterminated`, "$(open", "A # B", "A = = B", "!"} {
		if _, err := parseExpr(in); err == nil {
			t.Errorf("parseExpr(%q) succeeded, want an error", in)
		}
	}
	deep := strings.Repeat("(", 10000) + "A" + strings.Repeat(")", 10000)
	if _, err := parseExpr(deep); err == nil {
		t.Error("deeply nested expression accepted")
	}
}

func TestConjunctsAndSymbols(t *testing.T) {
	env := evalEnv{cfg: Config{"CONFIG_A": "y"}}
	e, err := parseExpr(`A && (B || !C) && D = "x" && y && 64BIT`)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(conjuncts(e)); n != 5 {
		t.Errorf("%d conjuncts, want 5", n)
	}
	if got := strings.Join(env.symbolsOf(e), ","); got != "A,B,C,D,64BIT" {
		t.Errorf("symbolsOf = %s", got)
	}
}

// FuzzParseExpr checks that the expression parser and evaluator never
// panic and that results are valid tristates.
func FuzzParseExpr(f *testing.F) {
	for _, s := range []string{
		"A && B", "!(A || B) && C", `A = "x"`, "N >= 0x10", "$(success,$(CC) -v)", "HAVE_KERNEL_GZIP || HAVE_KERNEL_LZ4",
		`"$(ARCH)" != "i386"`, "((A))", "A ||", "'q'",
	} {
		f.Add(s)
	}
	env := evalEnv{cfg: Config{"CONFIG_A": "y", "CONFIG_B": "m", "CONFIG_N": "16", "CONFIG_S": `"x"`}}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := parseExpr(s)
		if err != nil {
			return
		}
		if v := env.eval(e); v < triN || v > triY {
			t.Fatalf("eval(%q) = %d", s, v)
		}
		for _, c := range conjuncts(e) {
			_ = env.symbolsOf(c)
		}
	})
}

// FuzzLoad checks that arbitrary Kconfig text never panics the
// reader, and that an accepted file answers explain.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"config A\n\tbool \"a\"\n\tdepends on B\n",
		"if X\nconfig A\n\ttristate \"a\" if Y\nendif\n",
		"menu \"m\"\n\tdepends on Z\n\tvisible if W\nconfig A\n\tbool\nendmenu\n",
		"choice\n\tprompt \"c\"\nconfig A\n\tbool \"a\"\nconfig B\n\tbool \"b\"\nendchoice\n",
		"config A\n\tbool\n\thelp\n\t  if\n\t  endif\n\nconfig B\n\tdef_bool y\n\tselect A if C\n",
		"config A\n\tint \"n\"\n\trange 1 \\\n\t  10\n",
		"source \"Kconfig\"\n",
		"x := $(shell,true)\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kc, err := Load(fstest.MapFS{"Kconfig": {Data: []byte(s)}}, "x86", "x86_64")
		if err != nil {
			return
		}
		cfg := Config{"CONFIG_B": "y"}
		for name := range kc.defs {
			for _, v := range []string{"y", "m", "n", `"s"`, "3"} {
				_ = kc.explain(Option{Name: symbolPrefix + name, Value: v, Source: "f", Line: 1}, cfg)
			}
		}
	})
}

package turboinit

import "testing"

func TestParseCmdline(t *testing.T) {
	c := ParseCmdline(`console=ttyS0 quiet turbo.slot=b panic=1 foo="a b" turbo.entry=turbo-2-b` + "\n")
	if c.Slot != "b" || c.Entry != "turbo-2-b" || c.Params["foo"] != "a b" || c.Params["panic"] != "1" {
		t.Fatalf("%+v", c)
	}
	if _, ok := c.Params["quiet"]; !ok {
		t.Fatal("flag quiet missing")
	}
	if ParseCmdline("").Slot != "" {
		t.Fatal("empty cmdline has a slot")
	}
}

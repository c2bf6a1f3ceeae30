// Command testapp is a multi-purpose service for the acceptance tests: it
// crashes, leaves orphans behind, counts zombies or stops slowly, as its
// first argument asks.
package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Println("usage: testapp crash|orphans N|sleeper D|zombies|graceful")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "crash":
		// Exits at once with an error, every time.
		fmt.Printf("start uptime_ms=%d\n", uptimeMS())
		os.Exit(1)
	case "orphans":
		n, _ := strconv.Atoi(os.Args[2])
		for i := 0; i < n; i++ {
			cmd := exec.Command(os.Args[0], "sleeper", "300ms")
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
			if err := cmd.Start(); err != nil {
				fmt.Println("start:", err)
				os.Exit(1)
			}
		}
		// Exit without waiting: the children become orphans of PID 1.
		fmt.Printf("left %d orphans\n", n)
	case "sleeper":
		d, _ := time.ParseDuration(os.Args[2])
		time.Sleep(d)
	case "zombies":
		// Reports zombie processes once the orphans had time to exit.
		time.Sleep(2 * time.Second)
		for {
			z, total := countZombies()
			fmt.Printf("zombies=%d processes=%d\n", z, total)
			time.Sleep(500 * time.Millisecond)
		}
	case "graceful":
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		fmt.Println("waiting for SIGTERM")
		<-sig
		fmt.Println("got SIGTERM, saving state")
		time.Sleep(200 * time.Millisecond)
		fmt.Println("state saved")
	case "whoami":
		// Reports what the init gave the service, and a file's metadata.
		wd, _ := os.Getwd()
		fmt.Printf("uid=%d gid=%d cwd=%s FOO=%s args=%v\n", os.Getuid(), os.Getgid(), wd, os.Getenv("FOO"), os.Args[2:])
		if st, err := os.Stat("/etc/secret"); err == nil {
			sys := st.Sys().(*syscall.Stat_t)
			fmt.Printf("secret mode=%o owner=%d:%d\n", st.Mode().Perm(), sys.Uid, sys.Gid)
		}
		time.Sleep(time.Hour)
	case "httpget":
		// An exec health check: exit 0 if the URL answers 200.
		resp, err := http.Get(os.Args[2])
		if err != nil || resp.StatusCode != 200 {
			os.Exit(1)
		}
	default:
		fmt.Println("unknown mode", os.Args[1])
		os.Exit(2)
	}
}

func uptimeMS() int64 {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return -1
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	return int64(f * 1000)
}

func countZombies() (zombies, total int) {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		total++
		// pid (comm) STATE ...; comm may contain spaces, so cut at the last ')'.
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i > 0 && i+2 < len(s) && s[i+2] == 'Z' {
			zombies++
		}
	}
	return zombies, total
}

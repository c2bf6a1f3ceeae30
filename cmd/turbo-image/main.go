// Command turbo-image builds tiny, fast-booting Linux appliance images.
package main

func main() {}

// Package vmm plans and runs the virtual machines that boot turbo-image
// appliances.
//
// It has four jobs, kept apart so that the planning half can be table-tested
// without a hypervisor:
//
//   - Pure planning: [QEMUCommand] turns a [Spec] into the exact argv of
//     qemu-system-x86_64, and [BhyveCommand] turns a [BhyveSpec] into a
//     FreeBSD bhyve(8) argv. Both validate their input and never touch the
//     host.
//   - Host probing: [ProbeKVM] and [ChooseAccel] decide between KVM and TCG by
//     really booting SeaBIOS under KVM for a moment (a readable /dev/kvm is not
//     enough: nested KVM can hang forever), and [HostTSCkHz] measures the host
//     TSC frequency so that TCG direct kernel boots can skip the guest kernel's
//     fragile TSC calibration (see docs/design.md, "Timing under TCG").
//   - Running: [StartWith] runs QEMU as a child in its own process group, copies
//     the serial console to a writer and hands complete lines to a callback,
//     and [Process.Stop] ends it (SIGTERM, then SIGKILL of the whole group).
//     No process outlives its [Process]: the group is killed before the child
//     is reaped, and QEMU gets SIGKILL if this process dies (PR_SET_PDEATHSIG).
//   - Sessions: [Session] runs a VM through its reboots (the command of each
//     boot from a callback), stops at readiness, follows a slot's trial to
//     its outcome ([TrialWatch], pure), powers the guest down over QMP, and
//     reports through a log callback; [Tail] keeps the console's last lines
//     for error reports.
//   - Firmware files: [FindOVMF] locates the distribution's OVMF build and
//     [CopyVars] makes the writable per-VM copy of its variable store.
//
// The package knows nothing about recipes or the TURBO_ console protocol;
// callers scan the console lines themselves.
//
// Upstream references the choices here follow:
//
//   - QEMU invocation and machine options: https://www.qemu.org/docs/master/system/invocation.html
//   - The microvm machine: https://www.qemu.org/docs/master/system/i386/microvm.html
//     and hw/i386/microvm.c in the QEMU tree (x-option-roms, rtc, pcie, ACPI GED).
//   - isa-debug-exit (exit status (v<<1)|1): hw/misc/debugexit.c in QEMU.
//   - User-mode networking hostfwd syntax: the -netdev user section of the
//     QEMU invocation page.
//   - bhyve: the FreeBSD bhyve(8) manual page, https://man.freebsd.org/bhyve(8),
//     and usr.sbin/bhyve in the FreeBSD source tree.
//   - Linux tsc_early_khz=: Documentation/admin-guide/kernel-parameters.txt.
//   - TSC reading: Intel SDM vol. 2, RDTSC.
package vmm

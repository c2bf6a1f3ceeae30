// Package jail runs a build's initramfs without a VM: the same bytes
// unpacked into a folder (Unpack, cached by digest), the same turbo-init
// as PID 1 of new PID, mount, UTS, IPC and user namespaces, with the root
// pivoted into an overlay of that folder and a minimal /dev, /proc, /tmp
// and /run (see docs/design.md, "Jails").
//
// Planning is pure: NewPlan turns a Spec (caller ids, service users,
// network, data folder) into a Plan (id maps, mounts, capabilities kept),
// table-tested on any OS. The side effects are thin and Linux-only: Start
// re-executes a binary (turbo-image itself) with ChildArg in new
// namespaces; that child runs Child, which carries out the plan's mounts,
// pivot_root, capability drop and no_new_privs, then executes the plan's
// program. Run is the in-process API library code calls.
//
// FreeBSDCommand prints the jail(8) command for a FreeBSD host.
package jail

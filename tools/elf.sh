# Sourced by check-ipk and check-apk: does a binary fit an OpenWrt arch?
# elf_check FILE ARCH: 0 when FILE is a static ELF of ARCH's class,
# endianness and machine; else 1 with the reason in $elf_error.
# qemu_for ARCH: the qemu-user-static program that runs ARCH's binaries.

# arch -> "class data machine" (ELF e_ident[4], e_ident[5], e_machine)
elf_want() {
	case $1 in
	x86_64) echo "2 1 62" ;;
	aarch64_*) echo "2 1 183" ;;
	arm_*) echo "1 1 40" ;;
	mipsel_*) echo "1 1 8" ;;
	mips_*) echo "1 2 8" ;;
	*) echo "" ;;
	esac
}

qemu_for() {
	case $1 in
	x86_64) echo "" ;;
	aarch64_*) echo qemu-aarch64-static ;;
	arm_*) echo qemu-arm-static ;;
	mipsel_*) echo qemu-mipsel-static ;;
	mips_*) echo qemu-mips-static ;;
	esac
}

elf_byte() { od -An -tu1 -j "$2" -N1 "$1" | tr -d ' '; }

elf_check() {
	elf_error=""
	want=$(elf_want "$2")
	[ -n "$want" ] || { elf_error="unknown arch $2"; return 1; }
	[ "$(head -c4 "$1" | od -An -c | tr -d ' ')" = "177ELF" ] || { elf_error="not ELF"; return 1; }
	class=$(elf_byte "$1" 4); data=$(elf_byte "$1" 5)
	if [ "$data" = 1 ]; then m=$(( $(elf_byte "$1" 18) + 256 * $(elf_byte "$1" 19) )); else m=$(( 256 * $(elf_byte "$1" 18) + $(elf_byte "$1" 19) )); fi
	[ "$class $data $m" = "$want" ] || { elf_error="ELF class/data/machine $class $data $m, want $want for $2"; return 1; }
	file -b "$1" | grep -q "statically linked" || { elf_error="not statically linked: $(file -b "$1")"; return 1; }
}

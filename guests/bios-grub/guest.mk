# bios-grub: a disk that boots through the BIOS into GRUB 2 (grub-pc-bin's boot.img in the MBR, a core.img built
# here in the sectors after it), and GRUB loads guests/mbinfo as a Multiboot kernel plus one module sector, both
# read from the disk by block list. Built only when grub-pc-bin is installed.
#   qemu-system-i386 -bios /usr/share/seabios/bios.bin -nographic -net none -snapshot \
#     -device isa-debug-exit,iobase=0xf4,iosize=4 -drive file=build/bios-grub.img,format=raw
GRUB_I386_PC := /usr/lib/grub/i386-pc
ifneq ($(wildcard $(GRUB_I386_PC)/boot.img),)
GUESTS += $(BUILD)/bios-grub.img
endif

BIOS_GRUB_KERNEL_LBA := 2048
BIOS_GRUB_MODULE_LBA := 3072

$(BUILD)/bios-grub/early.cfg: bios-grub/early.cfg.in $(BUILD)/mbinfo.elf
	@mkdir -p $(dir $@)
	sed -e "s/@KERNEL@/(hd0)$(BIOS_GRUB_KERNEL_LBA)+$$(( ($$(stat -c %s $(BUILD)/mbinfo.elf) + 511) / 512 ))/" \
	    -e "s/@MODULE@/(hd0)$(BIOS_GRUB_MODULE_LBA)+1/" $< > $@

$(BUILD)/bios-grub/core.img: $(BUILD)/bios-grub/early.cfg
	grub-mkimage -O i386-pc -d $(GRUB_I386_PC) -o $@ -p '(hd0)' -c $< biosdisk multiboot echo
	@test $$(stat -c %s $@) -lt $$(( ($(BIOS_GRUB_KERNEL_LBA) - 1) * 512 )) || { echo "$@: does not fit before LBA $(BIOS_GRUB_KERNEL_LBA)"; rm -f $@; exit 1; }

$(BUILD)/bios-grub.img: $(BUILD)/bios-grub/core.img $(BUILD)/mbinfo.elf bios-grub/module.txt
	rm -f $@.tmp
	truncate -s 4M $@.tmp
	dd if=$(GRUB_I386_PC)/boot.img of=$@.tmp conv=notrunc status=none
	dd if=$(BUILD)/bios-grub/core.img of=$@.tmp bs=512 seek=1 conv=notrunc status=none
	dd if=$(BUILD)/mbinfo.elf of=$@.tmp bs=512 seek=$(BIOS_GRUB_KERNEL_LBA) conv=notrunc status=none
	dd if=bios-grub/module.txt of=$@.tmp bs=512 seek=$(BIOS_GRUB_MODULE_LBA) conv=notrunc status=none
	mv $@.tmp $@

# bios-boot: a disk image booted through a real BIOS (SeaBIOS): MBR -> stage 2, which checks INT 10h/12h/13h/15h/16h.
#   qemu-system-i386 -bios /usr/share/seabios/bios.bin -nographic -net none -snapshot \
#     -device isa-debug-exit,iobase=0xf4,iosize=4 -drive file=build/bios-boot.img,format=raw
GUESTS += $(BUILD)/bios-boot.img

BIOS_BOOT_STAGE2_SECTORS := 16

$(BUILD)/bios-boot/stage2.bin: bios-boot/stage2.asm
	@mkdir -p $(dir $@)
	$(NASM) -f bin -o $@ $<
	@test $$(stat -c %s $@) -le $$(( $(BIOS_BOOT_STAGE2_SECTORS) * 512 )) || { echo "$@: more than $(BIOS_BOOT_STAGE2_SECTORS) sectors"; rm -f $@; exit 1; }

$(BUILD)/bios-boot/mbr.bin: bios-boot/mbr.asm
	@mkdir -p $(dir $@)
	$(NASM) -f bin -DSTAGE2_SECTORS=$(BIOS_BOOT_STAGE2_SECTORS) -o $@ $<

$(BUILD)/bios-boot/mkdisk: bios-boot/mkdisk.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -o $@ $<

$(BUILD)/bios-boot.img: $(BUILD)/bios-boot/mkdisk $(BUILD)/bios-boot/mbr.bin $(BUILD)/bios-boot/stage2.bin
	$(BUILD)/bios-boot/mkdisk $(BUILD)/bios-boot/mbr.bin $(BUILD)/bios-boot/stage2.bin $@

# bios-optrom: a 512-byte ISA option ROM whose init prints through INT 10h during POST.
#   qemu-system-i386 -bios /usr/share/seabios/bios.bin -nographic -net none -option-rom build/bios-optrom.rom ...
GUESTS += $(BUILD)/bios-optrom.rom

$(BUILD)/bios-optrom/romsum: bios-optrom/romsum.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -o $@ $<

$(BUILD)/bios-optrom.rom: bios-optrom/optrom.asm $(BUILD)/bios-optrom/romsum
	$(NASM) -f bin -o $@.tmp $<
	$(BUILD)/bios-optrom/romsum $@.tmp
	mv $@.tmp $@

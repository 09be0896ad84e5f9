# plat-ide: interrupt-driven IDE PIO driver test (see ide.c), and its scratch disk image.
#   qemu-system-i386 ... -kernel build/plat-ide.elf -drive file=build/plat-ide/scratch.img,format=raw,if=ide
GUESTS += $(BUILD)/plat-ide.elf $(BUILD)/plat-ide/scratch.img

$(BUILD)/plat-ide/%.o: plat-ide/%.c plat-lib/plat.h lib/*.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS32) -Iplat-lib -c $< -o $@

$(BUILD)/plat-ide.elf: $(BUILD)/lib32/mb_entry.o $(BUILD)/plat-ide/ide.o $(BUILD)/plat-lib/plat.o $(BUILD)/plat-lib/intr.o $(LIB32_OBJS) lib/link32.ld
	$(LD) $(LDFLAGS32) -T lib/link32.ld -o $@ $(filter %.o,$^) $(LIBGCC32)

$(BUILD)/plat-ide/mkscratch: plat-ide/mkscratch.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -o $@ $<

$(BUILD)/plat-ide/scratch.img: $(BUILD)/plat-ide/mkscratch
	$< $@

# plat-lapic: local APIC / I/O APIC behaviour through the IDT (see lapic.c).
GUESTS += $(BUILD)/plat-lapic.elf

$(BUILD)/plat-lapic/%.o: plat-lapic/%.c plat-lib/plat.h lib/*.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS32) -Iplat-lib -Wno-array-bounds -c $< -o $@

$(BUILD)/plat-lapic.elf: $(BUILD)/lib32/mb_entry.o $(BUILD)/plat-lapic/lapic.o $(BUILD)/plat-lib/plat.o $(BUILD)/plat-lib/intr.o $(LIB32_OBJS) lib/link32.ld
	$(LD) $(LDFLAGS32) -T lib/link32.ld -o $@ $(filter %.o,$^) $(LIBGCC32)

# cpu-pae: PAE paging with NX: page-fault error codes and CR2, accessed/dirty bits, CR0.WP, 2 MiB pages,
# INVLPG, reserved bits. Run under QEMU with -cpu max (for NX).
GUESTS += $(BUILD)/cpu-pae.elf

$(BUILD)/cpu-pae/%.o: cpu-pae/%.c lib/*.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS32) -c $< -o $@

$(BUILD)/cpu-pae/traps.o: cpu-pae/traps.asm
	@mkdir -p $(dir $@)
	$(NASM) $(NASMFLAGS32) $< -o $@

$(BUILD)/cpu-pae.elf: $(BUILD)/lib32/mb_entry.o $(BUILD)/cpu-pae/pae.o $(BUILD)/cpu-pae/traps.o $(LIB32_OBJS) lib/link32.ld
	$(LD) $(LDFLAGS32) -T lib/link32.ld -o $@ $(filter %.o,$^) $(LIBGCC32)

# cpu-sysenter: SYSENTER/SYSEXIT fast system calls between ring 3 and ring 0, their MSRs and #GP cases.
GUESTS += $(BUILD)/cpu-sysenter.elf

$(BUILD)/cpu-sysenter/%.o: cpu-sysenter/%.c lib/*.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS32) -c $< -o $@

$(BUILD)/cpu-sysenter/entry.o: cpu-sysenter/entry.asm
	@mkdir -p $(dir $@)
	$(NASM) $(NASMFLAGS32) $< -o $@

$(BUILD)/cpu-sysenter.elf: $(BUILD)/lib32/mb_entry.o $(BUILD)/cpu-sysenter/sysenter.o $(BUILD)/cpu-sysenter/entry.o $(LIB32_OBJS) lib/link32.ld
	$(LD) $(LDFLAGS32) -T lib/link32.ld -o $@ $(filter %.o,$^) $(LIBGCC32)

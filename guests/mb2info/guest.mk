# mb2info: a Multiboot 2 kernel that prints the boot information tags it is given.
GUESTS += $(BUILD)/mb2info.elf

$(BUILD)/mb2info/%.o: mb2info/%.c lib/*.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS32) -c $< -o $@

$(BUILD)/mb2info/entry.o: mb2info/entry.asm
	@mkdir -p $(dir $@)
	$(NASM) $(NASMFLAGS32) $< -o $@

$(BUILD)/mb2info.elf: $(BUILD)/mb2info/entry.o $(BUILD)/mb2info/mb2info.o $(LIB32_OBJS) lib/link32.ld
	$(LD) $(LDFLAGS32) -T lib/link32.ld -o $@ $(filter %.o,$^) $(LIBGCC32)

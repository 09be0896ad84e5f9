GUESTS += $(BUILD)/hello.elf

$(BUILD)/hello/%.o: hello/%.c lib/*.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS32) -c $< -o $@

$(BUILD)/lib32/mb_entry.o: lib/mb_entry.asm
	@mkdir -p $(dir $@)
	$(NASM) $(NASMFLAGS32) $< -o $@

$(BUILD)/hello.elf: $(BUILD)/lib32/mb_entry.o $(BUILD)/hello/hello.o $(LIB32_OBJS) lib/link32.ld
	$(LD) $(LDFLAGS32) -T lib/link32.ld -o $@ $(filter %.o,$^) $(LIBGCC32)

GUESTS += $(BUILD)/mbinfo.elf

$(BUILD)/mbinfo/%.o: mbinfo/%.c lib/*.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS32) -c $< -o $@

$(BUILD)/mbinfo.elf: $(BUILD)/lib32/mb_entry.o $(BUILD)/mbinfo/mbinfo.o $(LIB32_OBJS) lib/link32.ld
	$(LD) $(LDFLAGS32) -T lib/link32.ld -o $@ $(filter %.o,$^) $(LIBGCC32)

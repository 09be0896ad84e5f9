# plat-mptables: finds, checks and dumps the MP tables (see mptables.c). It reads low physical memory
# through constant addresses, which GCC would flag as out-of-bounds accesses.
GUESTS += $(BUILD)/plat-mptables.elf

$(BUILD)/plat-mptables/%.o: plat-mptables/%.c lib/*.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS32) -Wno-array-bounds -Wno-stringop-overread -c $< -o $@

$(BUILD)/plat-mptables.elf: $(BUILD)/lib32/mb_entry.o $(BUILD)/plat-mptables/mptables.o $(LIB32_OBJS) lib/link32.ld
	$(LD) $(LDFLAGS32) -T lib/link32.ld -o $@ $(filter %.o,$^) $(LIBGCC32)

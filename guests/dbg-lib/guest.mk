# The debugger's test guests: dbg-gdb (driven by gdb in tests) and the "broken" kernels the fault explainer
# explains (dbg-badidt, dbg-stackoverflow, dbg-wrongcs, dbg-rowrite). Frame pointers stay on so backtraces work.
DBG_CFLAGS := $(CFLAGS32) -fno-omit-frame-pointer
DBG_LIB_OBJS := $(BUILD)/dbg-lib/dbg.o $(BUILD)/dbg-lib/isr.o
DBG_GUESTS := badidt stackoverflow wrongcs rowrite

GUESTS += $(BUILD)/dbg-gdb.elf $(foreach g,$(DBG_GUESTS),$(BUILD)/dbg-$(g).elf)

$(BUILD)/dbg-lib/%.o: dbg-lib/%.c dbg-lib/dbg.h lib/*.h
	@mkdir -p $(dir $@)
	$(CC) $(DBG_CFLAGS) -Idbg-lib -c $< -o $@

$(BUILD)/dbg-lib/%.o: dbg-lib/%.asm
	@mkdir -p $(dir $@)
	$(NASM) $(NASMFLAGS32) $< -o $@

$(BUILD)/dbg-%/main.o: dbg-%/*.c dbg-lib/dbg.h lib/*.h
	@mkdir -p $(dir $@)
	$(CC) $(DBG_CFLAGS) -Idbg-lib -c $(filter %.c,$^) -o $@

# -O0: gdb reads locals from the stack slots DWARF names.
$(BUILD)/dbg-gdb/main.o: dbg-gdb/gdbguest.c lib/*.h
	@mkdir -p $(dir $@)
	$(CC) $(DBG_CFLAGS) -O0 -c $< -o $@

$(BUILD)/dbg-gdb.elf: $(BUILD)/lib32/mb_entry.o $(BUILD)/dbg-gdb/main.o $(LIB32_OBJS) lib/link32.ld
	$(LD) $(LDFLAGS32) -T lib/link32.ld -o $@ $(filter %.o,$^) $(LIBGCC32)

$(BUILD)/dbg-%.elf: $(BUILD)/lib32/mb_entry.o $(BUILD)/dbg-%/main.o $(DBG_LIB_OBJS) $(LIB32_OBJS) lib/link32.ld
	$(LD) $(LDFLAGS32) -T lib/link32.ld -o $@ $(filter %.o,$^) $(LIBGCC32)

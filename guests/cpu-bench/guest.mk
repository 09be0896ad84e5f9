# cpu-bench: the integer workload of bench/ (arithmetic, memory, branches, CRC, a sort) as a Multiboot kernel.
# The same bench_core.c is linked into a host program (bench/run.sh) for the native figure.
GUESTS += $(BUILD)/cpu-bench.elf

$(BUILD)/cpu-bench/%.o: cpu-bench/%.c cpu-bench/*.h lib/*.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS32) -c $< -o $@

$(BUILD)/cpu-bench.elf: $(BUILD)/lib32/mb_entry.o $(BUILD)/cpu-bench/kernel.o $(BUILD)/cpu-bench/bench_core.o $(LIB32_OBJS) lib/link32.ld
	$(LD) $(LDFLAGS32) -T lib/link32.ld -o $@ $(filter %.o,$^) $(LIBGCC32)

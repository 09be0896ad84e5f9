# cpu-jos: a JOS lab 3 style kernel for the software CPU: ring-3 environments loaded from an embedded ELF,
# int 0x30 system calls, user page faults, breakpoint, divide error, general protection, all reported on COM1.
GUESTS += $(BUILD)/cpu-jos.elf

CPUJOS_KOBJS := $(BUILD)/cpu-jos/kern.o $(BUILD)/cpu-jos/trapentry.o $(BUILD)/cpu-jos/userblob.o

$(BUILD)/cpu-jos/%.o: cpu-jos/%.c lib/*.h cpu-jos/*.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS32) -c $< -o $@

$(BUILD)/cpu-jos/trapentry.o: cpu-jos/trapentry.asm
	@mkdir -p $(dir $@)
	$(NASM) $(NASMFLAGS32) $< -o $@

$(BUILD)/cpu-jos/user.elf: $(BUILD)/cpu-jos/user.o $(BUILD)/cpu-jos/ulib.o cpu-jos/user.ld
	$(LD) $(LDFLAGS32) -T cpu-jos/user.ld -o $@ $(BUILD)/cpu-jos/user.o $(BUILD)/cpu-jos/ulib.o $(LIBGCC32)

$(BUILD)/cpu-jos/userblob.o: cpu-jos/userblob.asm $(BUILD)/cpu-jos/user.elf
	@mkdir -p $(dir $@)
	$(NASM) $(NASMFLAGS32) -DUSER_ELF='"$(BUILD)/cpu-jos/user.elf"' $< -o $@

$(BUILD)/cpu-jos.elf: $(BUILD)/lib32/mb_entry.o $(CPUJOS_KOBJS) $(LIB32_OBJS) lib/link32.ld
	$(LD) $(LDFLAGS32) -T lib/link32.ld -o $@ $(filter %.o,$^) $(LIBGCC32)

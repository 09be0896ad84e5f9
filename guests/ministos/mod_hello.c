/* A tiny stos module: a relocatable ELF object loaded whole by the boot loader. */
const char hello_name[] = "hello";
int hello_calls;

int hello_init(void)
{
    hello_calls++;
    return 0;
}

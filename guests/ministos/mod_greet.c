/* A second tiny stos module, with a parameter a kernel would set from greet.who=... on the command line. */
const char *greet_who = "world";
static int greet_count;

int greet_init(int times)
{
    greet_count += times;
    return greet_count;
}

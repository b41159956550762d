/* The workshop's offline stand-in for Docker Hub's hello-world image: a tiny
   static program whose only job is to show that a container ran. */
#include <unistd.h>

static const char message[] =
    "\n"
    "Hello from Docker!\n"
    "If you can read this, your Docker installation works.\n"
    "\n"
    "What just happened:\n"
    " 1. The docker command you typed (the client) asked the Docker daemon to run\n"
    "    the image \"hello-world\".\n"
    " 2. The daemon did not have that image, so it downloaded it from a registry.\n"
    " 3. The daemon created a container from the image; the container ran the\n"
    "    program that printed this text.\n"
    " 4. The daemon sent what the program printed back to your docker command,\n"
    "    which showed it in your terminal.\n"
    "\n"
    "For something more ambitious, start a shell inside a Linux container:\n"
    " $ docker run -it python bash\n"
    "\n";

int main(void)
{
    return write(1, message, sizeof message - 1) == (ssize_t)(sizeof message - 1) ? 0 : 1;
}

// rdb-server: RDeeBee's server. Everything lives in src/server (ServerMain).
#include "server/server.h"

int main(int argc, char** argv) { return rdb::server::ServerMain(argc, argv); }

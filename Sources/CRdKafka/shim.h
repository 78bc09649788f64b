// librdkafka, the reference Kafka client (Debian librdkafka-dev), for IMS's Kafka journal and topics.
#include <librdkafka/rdkafka.h>

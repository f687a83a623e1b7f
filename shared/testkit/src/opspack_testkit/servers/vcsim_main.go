// vcsim for opspack tests: a vCenter simulator built on the govmomi
// "simulator" package (Debian: golang-github-vmware-govmomi-dev).
//
// Build (see vcsim.py, which does this and caches the binary):
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go build -o vcsim vcsim_main.go
//
// It builds the VPX model with the inventory knobs below, serves it and
// prints one line "OPSPACK_VCSIM_URL=<scheme>://<host>:<port>/sdk" to stdout
// once the server accepts connections, then runs until SIGTERM or SIGINT.
//
// Unlike upstream vcsim, -vm counts VMs per host (cluster hosts and
// standalone hosts alike) and every VM is pinned to its host:
// VM i of cluster host h is named <cluster>_RP0_VM<h*vm+i>, VM i of a
// standalone host is named <host>_VM<i>.
package main

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// pool is one place VMs go: a cluster's root pool or a standalone host's pool.
type pool struct {
	prefix string // VM name prefix, e.g. DC0_C0_RP0 or DC0_H0
	ref    types.ManagedObjectReference
	hosts  []types.ManagedObjectReference
	folder types.ManagedObjectReference // the datacenter's VM folder
	dc     string
}

func main() {
	m := simulator.VPX()
	listen := flag.String("listen", "127.0.0.1:0", "listen address (port 0: any free port)")
	flag.IntVar(&m.Datacenter, "dc", 1, "datacenters")
	flag.IntVar(&m.Cluster, "cluster", 1, "clusters per datacenter")
	flag.IntVar(&m.ClusterHost, "host", 2, "hosts per cluster")
	flag.IntVar(&m.Host, "standalone-host", 0, "standalone hosts per datacenter")
	vmsPerHost := flag.Int("vm", 2, "VMs per host (cluster and standalone hosts)")
	flag.IntVar(&m.Datastore, "ds", 1, "local datastores (LocalDS_N, mounted on every host)")
	flag.IntVar(&m.Portgroup, "pg", 1, "distributed portgroups per datacenter (0: VMs use 'VM Network')")
	flag.IntVar(&m.Pool, "pool", 0, "extra (empty) resource pools per cluster")
	flag.IntVar(&m.Folder, "folder", 0, "datacenters to place in a folder")
	flag.BoolVar(&m.Autostart, "autostart", true, "power on the VMs")
	useTLS := flag.Bool("tls", true, "serve https (default certificate: Go's 1024-bit test cert)")
	certFile := flag.String("tlscert", "", "PEM certificate (chain) file for -tls")
	keyFile := flag.String("tlskey", "", "PEM private key file for -tlscert")
	user := flag.String("username", "", "only accept this user (default: any non-empty user/password)")
	pass := flag.String("password", "", "password for -username")
	idle := flag.Duration("session-idle-timeout", 0, "expire sessions idle this long (0: never)")
	delay := flag.Int("delay", 0, "milliseconds to delay every SOAP call")
	methodDelay := flag.String("method-delay", "",
		"milliseconds to delay these SOAP methods, e.g. RelocateVM_Task=2000,PowerOffVM_Task=500 (added to -delay)")
	ipBase := flag.String("guest-ip-base", "", "if set, VM number n (creation order) reports guest IP base+n and hostname <vm name>")
	stdinExit := flag.Bool("stdin-exit", false, "exit when stdin reaches EOF (parent process gone)")
	flag.Parse()

	ctx, stop := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sig; stop() }()
	if *stdinExit {
		go func() { _, _ = io.Copy(io.Discard, os.Stdin); stop() }()
	}

	if (*user == "") != (*pass == "") {
		log.Fatal("-username and -password go together")
	}
	if *vmsPerHost > 0 && m.Datastore < 1 {
		log.Fatal("-vm needs -ds >= 1 (VMs live on LocalDS_0)")
	}
	var base uint32
	if *ipBase != "" {
		ip := net.ParseIP(*ipBase).To4()
		if ip == nil {
			log.Fatalf("-guest-ip-base: not an IPv4 address: %q", *ipBase)
		}
		base = binary.BigEndian.Uint32(ip)
	}
	delays, err := parseMethodDelay(*methodDelay)
	if err != nil {
		log.Fatalf("-method-delay: %v", err)
	}
	var tlsConfig *tls.Config // nil: plain http
	if *useTLS {
		tlsConfig = new(tls.Config)
		if *certFile != "" {
			cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
			if err != nil {
				log.Fatal(err)
			}
			tlsConfig.Certificates = []tls.Certificate{cert}
		}
	}
	simulator.SessionIdleTimeout = *idle
	m.Machine = 0 // VMs are created below, pinned to their hosts

	if err := m.Create(); err != nil {
		log.Fatal(err)
	}
	defer m.Remove() // removes the datastores' temp directories
	// In-process client (no HTTP) to add the VMs before serving.
	c, err := vim25.NewClient(ctx, m.Service)
	if err == nil {
		err = createVMs(ctx, c, collectPools(), *vmsPerHost, m.Autostart, base)
	}
	if err != nil {
		m.Remove()
		log.Fatal(err)
	}
	// Delays only once the inventory is built, so they slow the tests' calls, not the start.
	// The service reads this DelayConfig (a pointer to it) on every call.
	m.DelayConfig.Delay = *delay
	m.DelayConfig.MethodDelay = delays

	m.Service.Listen = &url.URL{Host: *listen}
	if *user != "" {
		m.Service.Listen.User = url.UserPassword(*user, *pass)
	}
	m.Service.TLS = tlsConfig
	s := m.Service.NewServer()
	defer s.Close()
	u := *s.URL
	u.User = nil
	fmt.Printf("OPSPACK_VCSIM_URL=%s\n", u.String())
	<-ctx.Done()
}

// parseMethodDelay reads "Method=ms,Method2=ms" into govmomi's DelayConfig.MethodDelay,
// keyed by the SOAP method's name as the request names it (RelocateVM_Task).
func parseMethodDelay(text string) (map[string]int, error) {
	if strings.TrimSpace(text) == "" {
		return nil, nil
	}
	out := map[string]int{}
	for _, item := range strings.Split(text, ",") {
		name, ms, ok := strings.Cut(strings.TrimSpace(item), "=")
		n, err := strconv.Atoi(strings.TrimSpace(ms))
		name = strings.TrimSpace(name)
		if !ok || name == "" || err != nil || n < 0 {
			return nil, fmt.Errorf("%q: expected Method=milliseconds", item)
		}
		out[name] = n
	}
	return out, nil
}

// collectPools lists cluster root pools and standalone host pools, sorted by name.
func collectPools() []pool {
	var pools []pool
	add := func(cr *mo.ComputeResource, prefix string) {
		dc := dcOf(cr)
		pools = append(pools, pool{prefix, *cr.ResourcePool, cr.Host, vmFolder(dc), dc.Name})
	}
	for _, e := range simulator.Map.All("ClusterComputeResource") {
		cr := &e.(*simulator.ClusterComputeResource).ComputeResource
		add(cr, cr.Name+"_RP0")
	}
	for _, e := range simulator.Map.All("ComputeResource") {
		cr := e.(*mo.ComputeResource)
		add(cr, cr.Name)
	}
	sort.Slice(pools, func(i, j int) bool { return pools[i].prefix < pools[j].prefix })
	return pools
}

func dcOf(e mo.Entity) *simulator.Datacenter {
	for {
		p := simulator.Map.Get(*e.Entity().Parent)
		if dc, ok := p.(*simulator.Datacenter); ok {
			return dc
		}
		e = p.(mo.Entity)
	}
}

// vmFolder is the datacenter's vm folder, or its model-made subfolder with -folder.
func vmFolder(dc *simulator.Datacenter) types.ManagedObjectReference {
	f := simulator.Map.Get(dc.VmFolder).(*simulator.Folder)
	for _, child := range f.ChildEntity {
		if child.Type == "Folder" {
			return child
		}
	}
	return f.Self
}

func createVMs(ctx context.Context, c *vim25.Client, pools []pool, perHost int, power bool, ipBase uint32) error {
	n := uint32(0)
	for _, p := range pools {
		backing := esx.EthernetCard.Backing
		for _, e := range simulator.Map.All("DistributedVirtualPortgroup") {
			if e.Entity().Name == p.dc+"_DVPG0" {
				pg := object.NewDistributedVirtualPortgroup(c, e.Reference())
				b, err := pg.EthernetCardBackingInfo(ctx)
				if err != nil {
					return err
				}
				backing = b
			}
		}
		folder := object.NewFolder(c, p.folder)
		rp := object.NewResourcePool(c, p.ref)
		for h, hostRef := range p.hosts {
			host := object.NewHostSystem(c, hostRef)
			for i := 0; i < perHost; i++ {
				if err := ctx.Err(); err != nil {
					return err // SIGTERM or stdin EOF while building
				}
				name := fmt.Sprintf("%s_VM%d", p.prefix, h*perHost+i)
				spec := types.VirtualMachineConfigSpec{
					Name:    name,
					GuestId: string(types.VirtualMachineGuestOsIdentifierOtherGuest),
					Files:   &types.VirtualMachineFileInfo{VmPathName: "[LocalDS_0]"},
				}
				var devices object.VirtualDeviceList
				scsi, _ := devices.CreateSCSIController("pvscsi")
				ide, _ := devices.CreateIDEController()
				cdrom, _ := devices.CreateCdrom(ide.(*types.VirtualIDEController))
				disk := devices.CreateDisk(scsi.(types.BaseVirtualController), types.ManagedObjectReference{},
					"[LocalDS_0] "+name+"/disk1.vmdk")
				disk.CapacityInKB = 1024
				nic := esx.EthernetCard
				nic.Backing = backing
				devices = append(devices, scsi, cdrom, disk, &nic)
				spec.DeviceChange, _ = devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
				if ipBase != 0 {
					ip := make(net.IP, 4)
					binary.BigEndian.PutUint32(ip, ipBase+n)
					spec.ExtraConfig = []types.BaseOptionValue{
						&types.OptionValue{Key: "SET.guest.ipAddress", Value: ip.String()},
						&types.OptionValue{Key: "SET.guest.hostName", Value: name},
					}
				}
				n++
				task, err := folder.CreateVM(ctx, spec, rp, host)
				if err != nil {
					return err
				}
				info, err := task.WaitForResult(ctx, nil)
				if err != nil {
					return fmt.Errorf("create %s: %w", name, err)
				}
				if power {
					vm := object.NewVirtualMachine(c, info.Result.(types.ManagedObjectReference))
					if task, err = vm.PowerOn(ctx); err == nil {
						err = task.Wait(ctx)
					}
					if err != nil {
						return fmt.Errorf("power on %s: %w", name, err)
					}
				}
			}
		}
	}
	return nil
}
